module bridge.dev/guest

go 1.24
