// (being written) custom rules
export {};
