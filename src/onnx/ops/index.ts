// Registers every operator implementation (import for side effects).
import "./elementwise.js";
import "./shape.js";
import "./reduce.js";
import "./nn.js";
import "./pool.js";
import "./indexing.js";
import "./loss.js";
import "./resize.js";
import "./control.js";
import "./attention.js";
import "./rnn.js";
import "./quant.js";
import "./signal.js";
import "./misc.js";
import "./ml.js";
import "./vision.js";
