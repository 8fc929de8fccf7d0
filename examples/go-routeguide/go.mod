module bridge.local/go_routeguide

go 1.24

require bridge.dev/guest v0.0.0

// The guest SDK of this bridge checkout.
replace bridge.dev/guest => ../../guest-go
