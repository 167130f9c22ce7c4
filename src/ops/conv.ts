// (being written) conv ops
export {};
