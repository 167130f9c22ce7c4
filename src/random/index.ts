// (being written) PRNG
export {};
