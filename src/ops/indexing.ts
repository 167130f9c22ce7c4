// (being written) indexing ops
export {};
