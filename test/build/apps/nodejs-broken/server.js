require("left-pad")
