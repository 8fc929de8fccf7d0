// Command stream-go implements stream.v1.Numbers (proto/stream/v1/numbers.proto, the
// schema tests/guests/stream-rust shares) on the generated Go glue: one RPC of each kind,
// and Inspect, which reads and shapes its call's context. tests/guests/conftest.py
// generates the glue into bridgegen/ of a copy of this folder and builds it;
// tests/guests/test_stream_guests.py calls it in-process. By hand, from this folder:
//
//	bridge gen -I proto proto/stream/v1/numbers.proto --go-out bridgegen
//	bridge build . -o /tmp/stream-go.wasm
package main

import (
	"io"
	"sort"
	"strconv"
	"strings"

	"bridge.dev/guest"
	"bridge.dev/tests/stream-go/bridgegen"
)

func main() {}

// closed counts the calls this instance was told were over (Send or Recv failed).
var closed int64

type server struct{}

func (server) Add(req *bridgegen.AddRequest) (*bridgegen.Number, error) {
	return &bridgegen.Number{Value: req.A + req.B}, nil
}

func (server) Count(req *bridgegen.CountRequest, stream *bridgegen.Numbers_CountServer) error {
	if req.Compress {
		if err := guest.SetCompression("gzip"); err != nil {
			return err
		}
	}
	if req.Headers {
		if err := guest.SetHeader("x-count-from", strconv.FormatInt(req.From, 10)); err != nil {
			return err
		}
	}
	var sent int64
	for v := req.From; v < req.To; v++ {
		if req.FailAfter > 0 && sent == req.FailAfter {
			return numberStatus(guest.CodeAborted, "failed after "+strconv.FormatInt(sent, 10)+" messages")
		}
		send := stream.Send
		if req.Compress && sent%2 == 1 {
			send = stream.SendUncompressed
		}
		if err := send(&bridgegen.Number{Value: v}); err != nil {
			closed++
			return err // the call is over: what it returns is not delivered
		}
		sent++
		if req.Headers && sent == 1 {
			late := "accepted"
			if guest.SetHeader("x-late", "1") != nil {
				late = "refused"
			}
			if err := guest.SetTrailer("x-late-header", late); err != nil {
				return err
			}
		}
	}
	if req.Headers {
		return guest.SetTrailer("x-sent", strconv.FormatInt(sent, 10))
	}
	return nil
}

func (server) Sum(stream *bridgegen.Numbers_SumServer) (*bridgegen.Total, error) {
	total := &bridgegen.Total{}
	for {
		n, err := stream.Recv()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			closed++
			return nil, err
		}
		if n.Value < 0 {
			return nil, guest.Errorf(guest.CodeInvalidArgument, "negative number %d", n.Value)
		}
		total.Sum += n.Value
		total.Count++
		if guest.RecvCompressed() {
			total.Compressed++
		}
	}
}

func (server) Echo(stream *bridgegen.Numbers_EchoServer) error {
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			closed++
			return err
		}
		if m.Text == "fail" {
			return guest.Errorf(guest.CodeFailedPrecondition, "asked to fail")
		}
		m.Text = strings.ToUpper(m.Text)
		send := stream.Send
		if m.Uncompressed {
			send = stream.SendUncompressed
		}
		if err := send(m); err != nil {
			closed++
			return err
		}
	}
}

func (server) Inspect(req *bridgegen.InspectRequest) (*bridgegen.InspectReply, error) {
	reply := &bridgegen.InspectReply{Closed: closed, RequestCompressed: guest.RequestCompressed()}
	md := guest.IncomingMetadata()
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range md[k] {
			reply.Metadata = append(reply.Metadata, &bridgegen.Entry{Key: k, Value: []byte(v)})
		}
	}
	if left, ok := guest.Deadline(); ok {
		reply.HasDeadline = true
		reply.DeadlineMs = left.Milliseconds()
	}
	if guest.SetHeader("bad key", "x") != nil {
		reply.Refused = append(reply.Refused, "bad key")
	}
	if guest.SetHeader("grpc-status", "0") != nil {
		reply.Refused = append(reply.Refused, "grpc- key")
	}
	if guest.SetHeader("x-text", "caf\u00e9") != nil {
		reply.Refused = append(reply.Refused, "non-ASCII text")
	}
	if guest.SetCompression("deflate") != nil {
		reply.Refused = append(reply.Refused, "deflate")
	}
	if req.Compress {
		if err := guest.SetCompression("gzip"); err != nil {
			return nil, err
		}
	}
	// Keys are lowercased, as gRPC does; a -bin value is raw bytes.
	if err := guest.SetHeader("X-Inspected", "yes"); err != nil {
		return nil, err
	}
	if err := guest.SetTrailer("x-keys", strconv.Itoa(len(keys))); err != nil {
		return nil, err
	}
	if err := guest.SetTrailer("x-raw-bin", "\x00\x01\xff"); err != nil {
		return nil, err
	}
	if req.AskHost {
		if _, err := (bridgegen.OracleClient{}).Ask(&bridgegen.Number{Value: 7}); err != nil {
			return nil, err // the host's status, details included, passed on as it is
		}
	}
	if req.FailCode != 0 {
		return nil, numberStatus(guest.Code(req.FailCode), "asked to fail")
	}
	return reply, nil
}

// numberStatus is a status with one detail, a stream.v1.Number{value: 42}.
func numberStatus(code guest.Code, message string) error {
	return &guest.Status{
		Code:    code,
		Message: message,
		Details: []guest.Any{{
			TypeURL: "type.googleapis.com/stream.v1.Number",
			Value:   (&bridgegen.Number{Value: 42}).Marshal(),
		}},
	}
}

func init() {
	bridgegen.RegisterNumbersServer(server{})
}
