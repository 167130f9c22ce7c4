// (being written) control flow
export {};
