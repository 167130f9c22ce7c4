// (being written) testing adapter
export {};
