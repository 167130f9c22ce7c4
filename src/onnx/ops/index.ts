// Registers every operator implementation (import for side effects).
import "./elementwise.js";
import "./shape.js";
import "./reduce.js";
import "./nn.js";
