module bridge.dev/tests/interop/testservice-go

go 1.24

require bridge.dev/guest v0.0.0

replace bridge.dev/guest => ../../../guest-go
