// (being written) nn ops
export {};
