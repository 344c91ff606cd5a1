require("node:http").createServer((q, s) => s.end("procfile app\n")).listen(process.env.PORT);
