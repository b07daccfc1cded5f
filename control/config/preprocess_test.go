package config

import (
	"os"
	"path/filepath"
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
	tests := []struct {
		name, src, want string
	}{
		{"IncludeDevZero", "include /dev/zero\n", "k.conf:1: read included file: /dev/zero is not a regular file (a character device)"},
		{"IncludeFIFO", "include " + fifo + "\n", "k.conf:1: read included file: " + fifo + " is not a regular file (a FIFO)"},
		{"NestedBraces3M", "vrrp_instance x " + deep, "k.conf:65: blocks nested deeper than 64"},
		{"LongLine", "vrrp_instance x " + strings.Repeat("{", 3_000_000), "k.conf:1: line longer than 1048576 bytes"},
		{"BraceExpansion", "include /nonexistent/" + strings.Repeat("{a,b}", 20) + "\n", "expands to more than 10000 patterns"},
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
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
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
