package track

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadTrackFile(t *testing.T) {
	d := t.TempDir()
	tests := []struct {
		name, content string
		missing       bool
		want          int
		note          string
	}{
		{"Decimal", "42\n", false, 42, ""},
		{"Negative", "-7", false, -7, ""},
		{"LeadingBlanksTrailingText", "  12abc", false, 12, ""},
		{"Hex_strtolBase0", "0x10", false, 16, ""},
		{"Octal_strtolBase0", "010", false, 8, ""},
		{"ClampedHigh", "1000", false, 254, ""},
		{"ClampedLow", "-1000", false, -254, ""},
		{"NotANumber_Zero", "up", false, 0, "not a number"},
		{"Empty_Zero", "", false, 0, "file empty"},
		{"Missing_Zero", "", true, 0, "file missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(d, tc.name)
			if !tc.missing {
				if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			v, note := ReadTrackFile(p)
			if v != tc.want || !strings.Contains(note, tc.note) || (tc.note == "") != (note == "") {
				t.Fatalf("ReadTrackFile(%q) = %d %q, want %d %q", tc.content, v, note, tc.want, tc.note)
			}
		})
	}
}

func TestInitTrackFile(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "f")
	if err := InitTrackFile(FileConfig{Name: "f", Path: p, InitFile: true, InitValue: 5}); err != nil {
		t.Fatal(err)
	}
	if v, _ := ReadTrackFile(p); v != 5 {
		t.Fatalf("created with %d, want 5", v)
	}
	if err := InitTrackFile(FileConfig{Name: "f", Path: p, InitFile: true, InitValue: 9}); err != nil {
		t.Fatal(err)
	}
	if v, _ := ReadTrackFile(p); v != 5 {
		t.Fatalf("existing file changed to %d without overwrite", v)
	}
	if err := InitTrackFile(FileConfig{Name: "f", Path: p, InitFile: true, InitValue: 9, InitOverwrite: true}); err != nil {
		t.Fatal(err)
	}
	if v, _ := ReadTrackFile(p); v != 9 {
		t.Fatalf("overwrite gave %d, want 9", v)
	}
}

func TestFileWatcher(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "state")
	if err := os.WriteFile(p, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	up := newUpdates()
	w, err := NewFileWatcher([]FileConfig{{Name: "f", Path: p}}, quiet, up.emit)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if u := up.next(t); u.Value != 0 || u.Kind != KindFile {
		t.Fatalf("initial %+v", u)
	}
	steps := []struct {
		name string
		do   func() error
		want int
		note string
	}{
		{"Write", func() error { return os.WriteFile(p, []byte("7\n"), 0o644) }, 7, ""},
		{"ReplacedByRename", func() error {
			tmp := filepath.Join(d, ".state.tmp")
			if err := os.WriteFile(tmp, []byte("-3\n"), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, p)
		}, -3, ""},
		{"Deleted_Zero", func() error { return os.Remove(p) }, 0, "file missing"},
		{"Recreated", func() error { return os.WriteFile(p, []byte("2"), 0o644) }, 2, ""},
		{"Garbage_Zero", func() error { return os.WriteFile(p, []byte("oops"), 0o644) }, 0, "not a number"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		u := up.next(t)
		if u.Value != s.want || !strings.Contains(u.Reason, s.note) {
			t.Fatalf("%s: update %+v, want value %d note %q", s.name, u, s.want, s.note)
		}
	}
}
