// (being written) linalg ops
export {};
