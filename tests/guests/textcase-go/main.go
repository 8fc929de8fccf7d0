// Command textcase-go ports textcase.v1.Text/Upper with a Unicode difference on
// purpose: it capitalizes ASCII letters only, where Python's str.upper() maps every
// cased letter (and "ß" to "SS"). tests/testing uses it to check that bridge diff finds
// the difference and shrinks it to a short string.
//
// The glue in bridgegen/ is generated; refresh it with (from the checkout's root)
//
//	bridge gen -I tests/testing/proto tests/testing/proto/textcase/v1/textcase.proto \
//	    --go-out tests/guests/textcase-go/bridgegen
package main

import (
	"bridge.dev/tests/textcase-go/bridgegen"
)

func main() {}

type server struct{}

// Upper capitalizes a to z and leaves every other character as it is.
func (server) Upper(req *bridgegen.UpperRequest) (*bridgegen.UpperResponse, error) {
	out := []byte(req.Text)
	for i, c := range out {
		if 'a' <= c && c <= 'z' {
			out[i] = c - 'a' + 'A'
		}
	}
	return &bridgegen.UpperResponse{Text: string(out)}, nil
}

func init() {
	bridgegen.RegisterTextServer(server{})
}
