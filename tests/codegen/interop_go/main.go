// A grpc.testing.TestService whose streaming methods use their streams, so that the
// module imports the stream functions; tests/codegen/test_go_interop.py writes the glue
// into bridgegen/ of a copy of this folder. What the methods answer is the interop
// guest's business (tests/interop), not this one's.
package main

import (
	"io"

	"bridge.dev/guest"

	"bridge.dev/interop/bridgegen"
)

func main() {}

type server struct{}

func (server) EmptyCall(req *bridgegen.Empty) (*bridgegen.Empty, error) {
	return &bridgegen.Empty{}, nil
}

func (server) UnaryCall(req *bridgegen.SimpleRequest) (*bridgegen.SimpleResponse, error) {
	return &bridgegen.SimpleResponse{Payload: req.Payload}, nil
}

func (server) CacheableUnaryCall(req *bridgegen.SimpleRequest) (*bridgegen.SimpleResponse, error) {
	return &bridgegen.SimpleResponse{}, nil
}

func (server) StreamingOutputCall(req *bridgegen.StreamingOutputCallRequest, stream *bridgegen.TestService_StreamingOutputCallServer) error {
	for _, p := range req.ResponseParameters {
		out := &bridgegen.StreamingOutputCallResponse{Payload: &bridgegen.Payload{Body: make([]byte, p.Size)}}
		if err := stream.Send(out); err != nil {
			return err
		}
	}
	return nil
}

func (server) StreamingInputCall(stream *bridgegen.TestService_StreamingInputCallServer) (*bridgegen.StreamingInputCallResponse, error) {
	var size int32
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return &bridgegen.StreamingInputCallResponse{AggregatedPayloadSize: size}, nil
		}
		if err != nil {
			return nil, err
		}
		size += int32(len(req.GetPayload().GetBody()))
	}
}

func (server) FullDuplexCall(stream *bridgegen.TestService_FullDuplexCallServer) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.SendUncompressed(&bridgegen.StreamingOutputCallResponse{Payload: req.Payload}); err != nil {
			return err
		}
	}
}

func (server) HalfDuplexCall(stream *bridgegen.TestService_HalfDuplexCallServer) error {
	return guest.Errorf(guest.CodeUnimplemented, "not here")
}

func (server) UnimplementedCall(req *bridgegen.Empty) (*bridgegen.Empty, error) {
	return nil, guest.Errorf(guest.CodeUnimplemented, "not here")
}

func init() {
	bridgegen.RegisterTestServiceServer(server{})
}
