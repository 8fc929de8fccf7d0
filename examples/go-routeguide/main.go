// Command go_routeguide implements gRPC's route guide example, routeguide.RouteGuide, in
// Go compiled to WebAssembly: one method of each kind gRPC has. GetFeature is unary,
// ListFeatures streams its answer, RecordRoute takes a stream, and RouteChat streams
// both ways. `bridge serve` serves it to any gRPC client; in-process, Python calls it
// with module.invoke (one answer) and module.stream (a stream of answers).
//
// This file is yours: `bridge gen` never touches it. Refresh the glue in bridgegen/
// after a schema change with
//
//	bridge gen -I proto/examples proto/examples/grpc/route_guide/route_guide.proto --go-out examples/go-routeguide/bridgegen
package main

import (
	"io"
	"math"
	"strconv"

	"bridge.dev/guest"

	"bridge.local/go_routeguide/bridgegen"
)

func main() {}

// The map: a feature at every point of a grid of gridSize x gridSize points, spacing
// apart, named after its position (a fixed map keeps the example self-contained).
const (
	gridSize = 100
	spacing  = 1000
)

func featureAt(lat, lng int32) *bridgegen.Feature {
	if lat < 0 || lng < 0 || lat%spacing != 0 || lng%spacing != 0 ||
		lat/spacing >= gridSize || lng/spacing >= gridSize {
		return &bridgegen.Feature{Location: &bridgegen.Point{Latitude: lat, Longitude: lng}}
	}
	return &bridgegen.Feature{
		Name:     "feature " + strconv.Itoa(int(lat/spacing)) + "/" + strconv.Itoa(int(lng/spacing)),
		Location: &bridgegen.Point{Latitude: lat, Longitude: lng},
	}
}

type server struct{}

// GetFeature is the feature at a point; a point without one gets an unnamed feature.
func (server) GetFeature(p *bridgegen.Point) (*bridgegen.Feature, error) {
	return featureAt(p.Latitude, p.Longitude), nil
}

// ListFeatures streams every feature inside the rectangle, row by row. It stops as soon
// as the caller goes away: Send then fails.
func (server) ListFeatures(r *bridgegen.Rectangle, stream *bridgegen.RouteGuide_ListFeaturesServer) error {
	lo, hi := r.GetLo(), r.GetHi()
	if lo == nil || hi == nil {
		return guest.Errorf(guest.CodeInvalidArgument, "a rectangle needs both lo and hi")
	}
	minLat, maxLat := order(lo.Latitude, hi.Latitude)
	minLng, maxLng := order(lo.Longitude, hi.Longitude)
	for i := int32(0); i < gridSize; i++ {
		lat := i * spacing
		if lat < minLat || lat > maxLat {
			continue
		}
		for j := int32(0); j < gridSize; j++ {
			lng := j * spacing
			if lng < minLng || lng > maxLng {
				continue
			}
			if err := stream.Send(featureAt(lat, lng)); err != nil {
				return err
			}
		}
	}
	return nil
}

// RecordRoute reads a route of points and answers with its summary: how many points,
// how many of them are features, and the distance covered (in grid units).
func (server) RecordRoute(stream *bridgegen.RouteGuide_RecordRouteServer) (*bridgegen.RouteSummary, error) {
	summary := &bridgegen.RouteSummary{}
	var last *bridgegen.Point
	for {
		p, err := stream.Recv()
		if err == io.EOF {
			return summary, nil
		}
		if err != nil {
			return nil, err
		}
		summary.PointCount++
		if featureAt(p.Latitude, p.Longitude).Name != "" {
			summary.FeatureCount++
		}
		if last != nil {
			dx := float64(p.Latitude - last.Latitude)
			dy := float64(p.Longitude - last.Longitude)
			summary.Distance += int32(math.Sqrt(dx*dx + dy*dy))
		}
		last = p
	}
}

// RouteChat answers each note with every note sent before it at the same location.
func (server) RouteChat(stream *bridgegen.RouteGuide_RouteChatServer) error {
	notes := map[[2]int32][]*bridgegen.RouteNote{}
	for {
		note, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		key := [2]int32{note.GetLocation().GetLatitude(), note.GetLocation().GetLongitude()}
		for _, earlier := range notes[key] {
			if err := stream.Send(earlier); err != nil {
				return err
			}
		}
		notes[key] = append(notes[key], note)
	}
}

func order(a, b int32) (int32, int32) {
	if a > b {
		return b, a
	}
	return a, b
}

func init() {
	bridgegen.RegisterRouteGuideServer(server{})
}
