module bridge.local/go_pricing

go 1.24

require bridge.dev/guest v0.0.0

// The guest SDK of this bridge checkout (`bridge init` writes an absolute path).
replace bridge.dev/guest => ../../../../guest-go
