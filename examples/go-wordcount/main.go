// Command go-wordcount is a WASI command guest (docs/abi.md section 10): a program that
// runs once per request. It reads a UTF-8 text on stdin, or from BRIDGE_REQUEST
// (base64) when the host sets it, and writes the text's word counts as JSON on stdout.
// Bad input is an application error: a message on stderr and exit status 1.
//
//	GOOS=wasip1 GOARCH=wasm go build -o /tmp/go-wordcount.wasm .
//
// A command, not a reactor: no -buildmode=c-shared, so the module exports _start.
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// requestEnv is where bridge.runtime.command puts the request (standard base64, padded)
// when the caller asks for it; stdin carries the raw request either way.
const requestEnv = "BRIDGE_REQUEST"

type response struct {
	Source string         `json:"source"` // "stdin" or "env": where the request came from
	Lines  int            `json:"lines"`
	Words  int            `json:"words"`
	Counts map[string]int `json:"counts"` // lower-cased word -> occurrences (keys sorted)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "wordcount: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	request, source, err := readRequest()
	if err != nil {
		return err
	}
	if !utf8.Valid(request) {
		return errors.New("the request is not UTF-8 text")
	}
	out, err := json.Marshal(count(string(request), source))
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}

func readRequest() ([]byte, string, error) {
	if encoded, ok := os.LookupEnv(requestEnv); ok {
		request, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, "", fmt.Errorf("%s is not base64: %v", requestEnv, err)
		}
		return request, "env", nil
	}
	request, err := io.ReadAll(os.Stdin)
	if err != nil {
		return nil, "", fmt.Errorf("reading stdin: %v", err)
	}
	return request, "stdin", nil
}

func count(text, source string) response {
	words := strings.FieldsFunc(text, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	counts := make(map[string]int, len(words))
	for _, word := range words {
		counts[strings.ToLower(word)]++
	}
	lines := strings.Count(text, "\n")
	if text != "" && !strings.HasSuffix(text, "\n") {
		lines++
	}
	return response{Source: source, Lines: lines, Words: len(words), Counts: counts}
}
