// bridge: command
module bridge.dev/examples/go-wordcount

go 1.24
