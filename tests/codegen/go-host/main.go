// Command codegen-go-host is the guest that tests/codegen/test_go.py builds around the
// Go code generated for proto/examples/kitchen/v1/kitchen.proto: the test writes the
// generated package into bridgegen/ of a copy of this directory, then round-trips
// messages through kitchen.v1.Kitchen/Echo.
package main

import "bridge.dev/tests/codegen-go-host/bridgegen"

func main() {}

// kitchen echoes: Echo returns its request as it is, Ping an empty message.
type kitchen struct{}

func (kitchen) Echo(req *bridgegen.Everything) (*bridgegen.Everything, error) {
	return req, nil
}

func (kitchen) Ping(req *bridgegen.Empty) (*bridgegen.Empty, error) {
	return nil, nil
}

func init() {
	bridgegen.RegisterKitchenServer(kitchen{})
}
