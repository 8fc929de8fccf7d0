package main

import (
	"reflect"
	"testing"
)

func TestCount(t *testing.T) {
	got := count("The cat saw the other cat.\nThe end", "stdin")
	want := response{
		Source: "stdin",
		Lines:  2,
		Words:  8,
		Counts: map[string]int{"cat": 2, "end": 1, "other": 1, "saw": 1, "the": 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("count() = %+v, want %+v", got, want)
	}
}

func TestCountEmpty(t *testing.T) {
	got := count("", "env")
	if got.Lines != 0 || got.Words != 0 || len(got.Counts) != 0 {
		t.Fatalf("count(\"\") = %+v, want nothing counted", got)
	}
}
