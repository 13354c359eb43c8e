package api

import gojson "github.com/goccy/go-json"

// jsonEncoder writes every JSON response body (Fiber's c.JSON): goccy/go-json,
// the encoder Fiber's documentation suggests, in place of encoding/json,
// which was a tenth of the service's CPU on a list request. Its output is
// byte for byte encoding/json's, HTML and U+2028/U+2029 escaping and invalid
// UTF-8 included (TestJSONEncoderAgreesWithEncodingJSON, FuzzJSONEncoder). A
// page of 20 tasks: 11 µs and 22 allocations instead of 28 µs and 86
// (BenchmarkListEncoding); on the full path (make bench-stack, A/B of the two
// builds in one run, 16 rounds) the service's CPU per list request 0.93×,
// throughput 100.6 % (quartiles 99.9–105.5 %). Request bodies are still
// decoded by encoding/json (body.go), whose strictness the API relies on.
var jsonEncoder = gojson.Marshal
