package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests named after keepalived.conf(5) "Conditional configuration and
// configuration id", "Parameter substitution", "Sequence blocks".
func TestPreprocessor_Keepalived(t *testing.T) {
	const inst = `
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    %s
    virtual_ipaddress {
        198.18.0.100/24
    }
}
`
	tests := []struct {
		name     string
		id       string
		src      string
		priority int
		routerID string
	}{
		{"ConditionalLineSelectedByConfigID_Keepalived", "high", strings.Replace(inst, "%s", "@high priority 170\n    @low priority 85", 1), 170, ""},
		{"ConditionalLineOtherConfigID_Keepalived", "low", strings.Replace(inst, "%s", "@high priority 170\n    @low priority 85", 1), 85, ""},
		{"ConditionalNoMatchDropsLine_Keepalived", "other", strings.Replace(inst, "%s", "@high priority 170\n    @low priority 85", 1), 100, ""},
		{"NegativeConditional_Keepalived", "main", strings.Replace(inst, "%s", "@^main priority 90\n    @main priority 200", 1), 200, ""},
		{"NegativeConditionalSelectsOthers_Keepalived", "backup", strings.Replace(inst, "%s", "@^main priority 90\n    @main priority 200", 1), 90, ""},
		{"ConditionalInGlobalDefs_Keepalived", "main", "global_defs {\n @main router_id main_router\n @backup router_id backup_router\n}\n" + strings.Replace(inst, "%s", "", 1), 100, "main_router"},
		{"ParameterSubstitution_Keepalived", "x", "$PRIO=150\n" + strings.Replace(inst, "%s", "priority $PRIO", 1), 150, ""},
		{"ParameterBraces_Keepalived", "x", "$P=15\n" + strings.Replace(inst, "%s", "priority ${P}0", 1), 150, ""},
		{"ParameterDefinedInConditional_Keepalived", "main", "@main $PRIORITY=240\n@backup $PRIORITY=200\n" + strings.Replace(inst, "%s", "priority $PRIORITY", 1), 240, ""},
		{"ParameterHoldingConditional_Keepalived", "main", "$IF_MAIN=@main\n" + strings.Replace(inst, "%s", "$IF_MAIN priority 240", 1), 240, ""},
		{"ParameterReplacedAtUseTime_Keepalived", "x", "$A=1${B}\n$B=2\n$B=3\n" + strings.Replace(inst, "%s", "priority ${A}", 1), 13, ""},
		{"UndefinedParameterLeftAsWritten_Keepalived", "x", "global_defs {\n router_id $UNDEF\n}\n" + strings.Replace(inst, "%s", "", 1), 100, "$UNDEF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := parseOK(t, tt.src, Options{ConfigID: tt.id})
			if got := c.Instances[0].Priority; got != tt.priority {
				t.Errorf("priority = %d, want %d", got, tt.priority)
			}
			if c.Global.RouterID != tt.routerID {
				t.Errorf("router_id = %q, want %q", c.Global.RouterID, tt.routerID)
			}
		})
	}
}

func TestPreprocessor_MultilineDefinition_Keepalived(t *testing.T) {
	src := `$INSTANCE= \
vrrp_instance VI_${NUM} { \
    interface eth0 \
    virtual_router_id ${NUM} \
    @high priority 130 \
    @low priority 120 \
    virtual_ipaddress { \
        198.18.${NUM}.254/24 \
    } \
}

$NUM=1
$INSTANCE

$NUM=2
$INSTANCE
`
	c, _ := parseOK(t, src, Options{ConfigID: "low"})
	if len(c.Instances) != 2 {
		t.Fatalf("instances = %d, want 2", len(c.Instances))
	}
	for i, want := range []string{"VI_1", "VI_2"} {
		in := c.Instances[i]
		if in.Name != want || in.VRID != i+1 || in.Priority != 120 || in.VIPs[0].Prefix.String() != "198.18."+string(rune('1'+i))+".254/24" {
			t.Errorf("instance %d = %s vrid %d prio %d vips %v", i, in.Name, in.VRID, in.Priority, in.VIPs)
		}
		// Every line of an expansion points at the line that used the parameter.
		if in.Pos.Line != 13+3*i {
			t.Errorf("instance %s at line %d, want %d", in.Name, in.Pos.Line, 13+3*i)
		}
	}
}

func TestPreprocessor_Sequence_Keepalived(t *testing.T) {
	src := `
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        ~SEQ(SUBNET, 0, 3) 198.18.${SUBNET}.1/24
        ~SEQ(D, 3) 198.19.0.${D}/32
    }
}
`
	c, _ := parseOK(t, src, Options{ConfigID: "x"})
	var got []string
	for _, v := range c.Instances[0].VIPs {
		got = append(got, v.Prefix.String())
	}
	// ~SEQ(VAR, end): start defaults to 1, step to 1.
	want := "198.18.0.1/24 198.18.1.1/24 198.18.2.1/24 198.18.3.1/24 198.19.0.1/32 198.19.0.2/32 198.19.0.3/32"
	if strings.Join(got, " ") != want {
		t.Errorf("~SEQ VIPs = %v, want %s", got, want)
	}
}

func TestPreprocessor_SequenceHexAndList_Keepalived(t *testing.T) {
	src := `
$V=@x
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    ~LST(P, 150) priority $P
    virtual_ipaddress {
        ~SEQx(H, 0x90, 0x10, 0xc0) 2001:db8::${H}/128
    }
}
`
	c, _ := parseOK(t, src, Options{ConfigID: "x"})
	in := c.Instances[0]
	var got []string
	for _, v := range in.VIPs {
		got = append(got, v.Prefix.Addr().String())
	}
	if strings.Join(got, " ") != "2001:db8::90 2001:db8::a0 2001:db8::b0 2001:db8::c0" || in.Priority != 150 {
		t.Errorf("VIPs %v priority %d", got, in.Priority)
	}
}

func TestPreprocessor_ErrorsPointAtSource_Keepalived(t *testing.T) {
	src := "$P=300\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority $P\n virtual_ipaddress {\n 198.18.0.1\n }\n}\n"
	_, _, err := Parse("k.conf", []byte(src), Options{ConfigID: "x"})
	if err == nil || !strings.Contains(err.Error(), "k.conf:5: priority 300 out of range") {
		t.Errorf("err = %v, want k.conf:5: priority 300 out of range", err)
	}
	src = "$SELF=${SELF}x\nglobal_defs {\n router_id ${SELF}\n}\n"
	_, _, err = Parse("k.conf", []byte(src), Options{ConfigID: "x"})
	if err == nil || !strings.Contains(err.Error(), "k.conf:3: parameter $SELF") {
		t.Errorf("self-referring parameter: err = %v", err)
	}
}

// TestParserBounds: hostile input fails with file:line at once (the parse
// answer comes well inside a second even on a loaded machine).
func TestParserBounds(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat("{\n", 3_000_000)
	// A directory of 2,000 files and one include whose brace groups expand
	// to 10,000 patterns (the maxBracePattern bound) over it, matching
	// none: 20 million names to compare, past maxGlobWork.
	names := map[string]string{}
	for i := range 2000 {
		names[fmt.Sprintf("f%d", i)] = ""
	}
	many := writeFiles(t, names)
	var hundred []string
	for i := range 100 {
		hundred = append(hundred, strconv.Itoa(i))
	}
	group := "{" + strings.Join(hundred, ",") + "}"
	tests := []struct {
		name, src, want string
	}{
		{"IncludeDevZero", "include /dev/zero\n", "k.conf:1: read included file: /dev/zero is not a regular file (a character device)"},
		{"IncludeFIFO", "include " + fifo + "\n", "k.conf:1: read included file: " + fifo + " is not a regular file (a FIFO)"},
		{"NestedBraces3M", "vrrp_instance x " + deep, "k.conf:65: blocks nested deeper than 64"},
		{"LongLine", "vrrp_instance x " + strings.Repeat("{", 3_000_000), "k.conf:1: line longer than 1048576 bytes"},
		{"BraceExpansion", "include /nonexistent/" + strings.Repeat("{a,b}", 20) + "\n", "expands to more than 10000 patterns"},
		{"BraceExpansionBytes", "include /nonexistent/" + strings.Repeat("{a}", 300_000) + "\n", "expands to more than 16777216 bytes of patterns"},
		{"GlobWork10000PatternsOver2000Files", "include " + filepath.Join(many, group+group+"*.none") + "\n", "k.conf:1: include " + strconv.Quote(filepath.Join(many, group+group+"*.none")) + ": include globs need more than 2000000 steps"},
		{"SeqTooLong", "~SEQ(N, 0, 2000000000) router_id x\n", "k.conf:1: ~SEQ(N, 0, 2000000000) produces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, _, err := Parse(filepath.Join(dir, "k.conf"), []byte(tt.src), Options{ConfigID: "x"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if n := strings.Count(err.Error(), "\n"); n > 2 {
				t.Errorf("%d error lines, want one message: %v", n+1, err)
			}
			// Each took seconds (the glob 20 s) before its bound.
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			t.Logf("refused after %v", time.Since(start))
		})
	}
	// The main file must be a regular file too.
	if _, _, err := Load(fifo, Options{}); err == nil || !strings.Contains(err.Error(), "is not a regular file (a FIFO)") {
		t.Errorf("Load(fifo) = %v", err)
	}
	_ = os.Remove(fifo)
}

// TestTenThousandInstances: the bounds leave room for large real files.
func TestTenThousandInstances(t *testing.T) {
	src := `$I= \
vrrp_instance VI_${A}_${B} { \
    interface eth${A} \
    virtual_router_id ${B} \
    virtual_ipaddress { \
        198.18.${A}.${B}/32 \
    } \
}
~SEQ(A, 0, 39) ~SEQ(B, 1, 250) $I
`
	c, _ := parseOK(t, src, Options{ConfigID: "x"})
	if len(c.Instances) != 10000 {
		t.Errorf("instances = %d, want 10000", len(c.Instances))
	}
}

// TestIncludeGlobOfTenThousandFiles: maxGlobWork leaves room for real
// layouts, one file per instance under conf.d (keepalived.conf(5)
// "include": a glob relative to the including file's directory).
func TestIncludeGlobOfTenThousandFiles(t *testing.T) {
	dir := t.TempDir()
	confd := filepath.Join(dir, "conf.d")
	if err := os.MkdirAll(confd, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 10_000 {
		body := fmt.Sprintf("vrrp_instance VI_%d {\n interface eth%d\n virtual_router_id %d\n virtual_ipaddress {\n  198.18.%d.%d/32\n }\n}\n",
			i, i/250, i%250+1, i/250, i%250+1)
		if err := os.WriteFile(filepath.Join(confd, fmt.Sprintf("vi%05d.conf", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not .conf: not included.
	if err := os.WriteFile(filepath.Join(confd, "README"), []byte("not a configuration"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, _, err := Parse(filepath.Join(dir, "keepalived.conf"), []byte("include conf.d/*.conf\n"), Options{ConfigID: "x"})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	t.Logf("parsed after %v", time.Since(start))
	if len(c.Instances) != 10_000 {
		t.Fatalf("instances = %d, want 10000", len(c.Instances))
	}
	// Included in the glob's sorted order.
	if c.Instances[0].Name != "VI_0" || c.Instances[9999].Name != "VI_9999" {
		t.Errorf("instances %s .. %s, want VI_0 .. VI_9999", c.Instances[0].Name, c.Instances[9999].Name)
	}
}

// TestIncludeGlobIsFilepathGlob: the include globber reads each directory
// once but answers as filepath.Glob does (the "include" of
// keepalived.conf(5) is glob(3); Go's Glob is what xvrrpd always served):
// sorted per pattern, literal paths looked up, meta characters in
// directory components, malformed patterns refused.
func TestIncludeGlobIsFilepathGlob(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a1", "a2", "b1", "a1/sub", `we\ird`} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a1/x.conf", "a1/y.conf", "a1/.hidden.conf", "a2/z.conf", "a2/x.conf", "b1/x.conf", "top.conf", "a1/sub/deep.conf", `we\ird/w.conf`, "[lit].conf"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "dangling.conf")); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, pattern string }{
		{"SortedWithinADirectory", "a1/*.conf"},
		{"MetaInTheDirectory", "a?/*.conf"},
		{"MetaInEveryComponent", "*/*/*.conf"},
		{"ClassInTheDirectory", "[ab]1/x.conf"},
		{"LiteralPathThatExists", "a2/z.conf"},
		{"LiteralPathMissing", "a2/none.conf"},
		{"LiteralDanglingSymlink", "dangling.conf"},
		{"DirectoryMissing", "nope/*.conf"},
		{"FileAsDirectory", "top.conf/*"},
		{"EscapedMeta", `\[lit\].conf`},
		{"BackslashDirectory", `we\\ird/*`},
		{"BadPattern", "a1/[x.conf"},
		{"BadPatternInTheDirectory", "[/]x"},
		{"DirectoryItself", "a*"},
		{"TrailingSlash", "a*/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.pattern)
			if strings.HasSuffix(tt.pattern, "/") {
				p += "/"
			}
			want, wantErr := filepath.Glob(p)
			var g globber
			got, err := g.glob(p)
			if !slices.Equal(got, want) || (err == nil) != (wantErr == nil) {
				t.Fatalf("glob(%q) = %q, %v; filepath.Glob = %q, %v", p, got, err, want, wantErr)
			}
			// Again from the directory cache.
			again, err := g.glob(p)
			if !slices.Equal(again, want) || (err == nil) != (wantErr == nil) {
				t.Fatalf("second glob(%q) = %q, %v; filepath.Glob = %q, %v", p, again, err, want, wantErr)
			}
		})
	}
}
