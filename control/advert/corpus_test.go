package advert

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFuzzCorpus_Verdicts: each seed in testdata/fuzz/FuzzDecode is named
// for the rule it breaks (or the edge it exercises); check it gets exactly
// that verdict, so the corpus stays meaningful when the decoder changes.
func TestFuzzCorpus_Verdicts(t *testing.T) {
	want := map[string]error{
		"empty": ErrTooShort, "seven_bytes": ErrTooShort,
		"version1": ErrVersion, "version15": ErrVersion, "v2_over_ipv6": ErrVersion,
		"type0": ErrType, "type15": ErrType,
		"count_too_high": ErrLength, "count_too_low": ErrLength, "count_255_short": ErrLength,
		"truncated_address": ErrLength, "trailing_byte": ErrLength, "v2_missing_auth_data": ErrLength,
		"v3_ipv6_sizes_as_ipv4": ErrLength, "v3_ipv4_sizes_as_ipv6": ErrLength,
		"v2_auth_type_3":  ErrAuthType,
		"v2_bad_checksum": ErrChecksum, "v3_bad_checksum": ErrChecksum,
		"v3_checksum_as_v2_without_option": ErrChecksum, "v3_legacy_unicast_without_option": ErrChecksum,
		"all_ones_40": ErrVersion,
		// Accepted edges.
		"v3_reserved_bits_set": nil, "v2_auth_ah": nil, "v3_zero_addresses": nil,
	}
	files, err := filepath.Glob("testdata/fuzz/FuzzDecode/*")
	if err != nil || len(files) != len(want) {
		t.Fatalf("corpus has %d files (%v), want %d", len(files), err, len(want))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no verdict listed for seed %s", name)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
			if len(lines) != 3 || lines[0] != "go test fuzz v1" {
				t.Fatalf("not a go fuzz v1 file with two values")
			}
			msg, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
			if err != nil {
				t.Fatal(err)
			}
			sel, _, _, err := strconv.UnquoteChar(strings.TrimSuffix(strings.TrimPrefix(lines[2], "byte('"), "')"), '\'')
			if err != nil {
				t.Fatal(err)
			}
			src, dst := fuzzEndpoints(byte(sel))
			err = Decode([]byte(msg), src, dst, DecodeOptions{}, new(Advert))
			if w == nil && err != nil || w != nil && !errors.Is(err, w) {
				t.Errorf("Decode = %v, want %v", err, w)
			}
		})
	}
}
