// Command testservice-go implements grpc.testing.TestService, the service of gRPC's
// interop tests, from the official, unmodified grpc/testing/test.proto: it answers as
// gRPC's own interop servers do (grpc-go's interop/test_utils.go, grpc-java's
// TestServiceImpl, and the C++ server's checks of compressed requests), so that gRPC's
// interop clients can run their cases against `bridge serve`.
//
// Its glue, bridgegen/, is not kept here: tests/interop generates it from the protos
// that scripts/install_test_clients.py takes from Maven Central, with `bridge gen`.
package main

import (
	"io"
	"time"

	"bridge.dev/guest"

	"bridge.dev/tests/interop/testservice-go/bridgegen"
)

func main() {}

func init() {
	bridgegen.RegisterTestServiceServer(server{})
}

// The metadata the custom_metadata case sends and wants back: the first as a
// response header, the second (binary) as a trailer.
const (
	initialMetadataKey  = "x-grpc-test-echo-initial"
	trailingMetadataKey = "x-grpc-test-echo-trailing-bin"
)

type server struct{}

func (server) EmptyCall(*bridgegen.Empty) (*bridgegen.Empty, error) {
	return &bridgegen.Empty{}, nil
}

// UnaryCall answers with a payload of the size asked for, or with the status asked
// for; it echoes the custom metadata, compresses its response when asked to, and
// refuses a request whose compression is not what the client says it expects (the
// client_compressed_unary case probes for that).
func (server) UnaryCall(req *bridgegen.SimpleRequest) (*bridgegen.SimpleResponse, error) {
	if err := echoMetadata(); err != nil {
		return nil, err
	}
	if req.ExpectCompressed != nil {
		if err := checkCompressed(req.ExpectCompressed, guest.RequestCompressed()); err != nil {
			return nil, err
		}
	}
	if req.ResponseCompressed != nil && req.ResponseCompressed.Value {
		if err := guest.SetCompression("gzip"); err != nil {
			return nil, err
		}
	}
	if err := echoStatus(req.ResponseStatus); err != nil {
		return nil, err
	}
	payload, err := newPayload(req.ResponseType, req.ResponseSize)
	if err != nil {
		return nil, err
	}
	return &bridgegen.SimpleResponse{Payload: payload}, nil
}

// CacheableUnaryCall is UnaryCall: caching proxies are not the sidecar's business.
func (s server) CacheableUnaryCall(req *bridgegen.SimpleRequest) (*bridgegen.SimpleResponse, error) {
	return s.UnaryCall(req)
}

// StreamingOutputCall sends one response per response parameter.
func (server) StreamingOutputCall(req *bridgegen.StreamingOutputCallRequest, stream *bridgegen.TestService_StreamingOutputCallServer) error {
	if err := echoMetadata(); err != nil {
		return err
	}
	out := sender{send: stream.Send, sendUncompressed: stream.SendUncompressed}
	if err := out.respond(req); err != nil {
		return err
	}
	return echoStatus(req.ResponseStatus)
}

// StreamingInputCall answers with the total size of the payloads it received.
func (server) StreamingInputCall(stream *bridgegen.TestService_StreamingInputCallServer) (*bridgegen.StreamingInputCallResponse, error) {
	if err := echoMetadata(); err != nil {
		return nil, err
	}
	var total int32
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return &bridgegen.StreamingInputCallResponse{AggregatedPayloadSize: total}, nil
		}
		if err != nil {
			return nil, err
		}
		if err := checkCompressed(req.ExpectCompressed, guest.RecvCompressed()); err != nil {
			return nil, err
		}
		if req.Payload != nil {
			total += int32(len(req.Payload.Body))
		}
	}
}

// FullDuplexCall answers each request as it comes: its responses, or its status.
func (server) FullDuplexCall(stream *bridgegen.TestService_FullDuplexCallServer) error {
	if err := echoMetadata(); err != nil {
		return err
	}
	out := sender{send: stream.Send, sendUncompressed: stream.SendUncompressed}
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := echoStatus(req.ResponseStatus); err != nil {
			return err
		}
		if err := out.respond(req); err != nil {
			return err
		}
	}
}

// HalfDuplexCall takes every request first, then answers them in order.
func (server) HalfDuplexCall(stream *bridgegen.TestService_HalfDuplexCallServer) error {
	if err := echoMetadata(); err != nil {
		return err
	}
	var requests []*bridgegen.StreamingOutputCallRequest
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		requests = append(requests, req)
	}
	out := sender{send: stream.Send, sendUncompressed: stream.SendUncompressed}
	for _, req := range requests {
		if err := out.respond(req); err != nil {
			return err
		}
	}
	return nil
}

// UnimplementedCall is left unimplemented, as the interop spec asks: the
// unimplemented_method case wants UNIMPLEMENTED.
func (server) UnimplementedCall(*bridgegen.Empty) (*bridgegen.Empty, error) {
	return nil, guest.Errorf(guest.CodeUnimplemented, "grpc.testing.TestService/UnimplementedCall is not implemented")
}

// echoMetadata sends back the custom metadata the client sent: a header and a
// trailer, as the interop servers do.
func echoMetadata() error {
	md := guest.IncomingMetadata()
	if values := md[initialMetadataKey]; len(values) > 0 {
		if err := guest.SetHeader(initialMetadataKey, values[0]); err != nil {
			return err
		}
	}
	if values := md[trailingMetadataKey]; len(values) > 0 {
		if err := guest.SetTrailer(trailingMetadataKey, values[0]); err != nil {
			return err
		}
	}
	return nil
}

// echoStatus is the error a request asks to be answered with (response_status), if any.
func echoStatus(status *bridgegen.EchoStatus) error {
	if status == nil || status.Code == 0 {
		return nil
	}
	code := guest.Code(status.Code)
	if status.Code < 0 || code > guest.CodeUnauthenticated {
		code = guest.CodeUnknown // not a gRPC code: the envelope cannot carry it
	}
	return guest.NewStatus(code, status.Message)
}

// checkCompressed refuses a request whose compression is not the one the client says
// it expects, as the C++ interop server does (CheckExpectedCompression).
func checkCompressed(expect *bridgegen.BoolValue, compressed bool) error {
	expected := expect != nil && expect.Value
	if expected && !compressed {
		return guest.Errorf(guest.CodeInvalidArgument, "expected a compressed request, got an uncompressed one")
	}
	if !expected && compressed {
		return guest.Errorf(guest.CodeInvalidArgument, "expected an uncompressed request, got a compressed one")
	}
	return nil
}

// newPayload is a payload of `size` zero bytes; the interop protos know one type.
func newPayload(kind bridgegen.PayloadType, size int32) (*bridgegen.Payload, error) {
	if size < 0 {
		return nil, guest.Errorf(guest.CodeInvalidArgument, "a response of %d bytes cannot be made", size)
	}
	if kind != bridgegen.PayloadType_COMPRESSABLE {
		return nil, guest.Errorf(guest.CodeInvalidArgument, "payload type %d is not supported", kind)
	}
	if size == 0 {
		return nil, nil // as grpc-java's server: no payload for an empty one
	}
	return &bridgegen.Payload{Type: kind, Body: make([]byte, size)}, nil
}

// sender sends the responses a StreamingOutputCallRequest asks for, compressed or not
// per response (the server_compressed_streaming case).
type sender struct {
	send             func(*bridgegen.StreamingOutputCallResponse) error
	sendUncompressed func(*bridgegen.StreamingOutputCallResponse) error
	sent             bool // something has left: the response headers with it
	compressing      bool // the call's responses are compressed (unless sent uncompressed)
}

func (s *sender) respond(req *bridgegen.StreamingOutputCallRequest) error {
	for _, param := range req.ResponseParameters {
		compress := param.Compressed != nil && param.Compressed.Value
		if compress && !s.compressing && !s.sent {
			// Before the first response only: the encoding is named in the headers.
			if err := guest.SetCompression("gzip"); err != nil {
				return err
			}
			s.compressing = true
		}
		if param.IntervalUs > 0 {
			time.Sleep(time.Duration(param.IntervalUs) * time.Microsecond)
		}
		payload, err := newPayload(req.ResponseType, param.Size)
		if err != nil {
			return err
		}
		response := &bridgegen.StreamingOutputCallResponse{Payload: payload}
		if s.compressing && !compress {
			err = s.sendUncompressed(response)
		} else {
			err = s.send(response)
		}
		if err != nil {
			return err // the call is over (the client cancelled, or its deadline passed)
		}
		s.sent = true
	}
	return nil
}
