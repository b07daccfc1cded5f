package track

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/control/safefile"
)

// FileConfig is one vrrp_track_file block.
type FileConfig struct {
	Name string
	Path string
	// InitFile is `init_file [VALUE] [overwrite]`: create the file with
	// InitValue when missing, or always when InitOverwrite.
	InitFile      bool
	InitValue     int
	InitOverwrite bool
}

// ReadTrackFile reads a track_file value as keepalived does (vrrp_track.c
// process_track_file): the first 127 bytes through strtol(buf, NULL, 0), so
// leading blanks, a sign and 0x/0 prefixes are accepted and trailing text is
// ignored; a missing or unreadable file or text that is not a number reads
// as 0; the value is clamped to -254..254. The note says why when the value
// did not come from a number in the file.
func ReadTrackFile(path string) (value int, note string) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, "file missing: treated as 0"
		}
		return 0, fmt.Sprintf("unreadable (%s): treated as 0", describeStatErr(err))
	}
	defer f.Close()
	buf := make([]byte, 127)
	n, err := f.Read(buf)
	if n <= 0 {
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Sprintf("unreadable (%v): treated as 0", err)
		}
		return 0, "file empty: treated as 0"
	}
	v, ok := strtol(buf[:n])
	if !ok {
		return 0, fmt.Sprintf("not a number (%q): treated as 0", bytes.TrimSpace(buf[:min(n, 32)]))
	}
	return clamp(v, -254, 254), ""
}

func clamp(v, lo, hi int64) int {
	if v < lo {
		return int(lo)
	}
	if v > hi {
		return int(hi)
	}
	return int(v)
}

// strtol mimics C strtol(s, NULL, 0): skip blanks, optional sign, base from
// prefix (0x hex, 0 octal, else decimal), longest valid digit run.
func strtol(b []byte) (int64, bool) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r' || b[i] == '\v' || b[i] == '\f') {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	base := 10
	if i+1 < len(b) && b[i] == '0' && (b[i+1] == 'x' || b[i+1] == 'X') && i+2 < len(b) && isDigit(b[i+2], 16) {
		base, i = 16, i+2
	} else if i < len(b) && b[i] == '0' {
		base = 8
	}
	j := i
	for j < len(b) && isDigit(b[j], base) {
		j++
	}
	if j == i {
		return 0, false
	}
	v, err := strconv.ParseInt(string(b[i:j]), base, 64)
	if err != nil {
		// Overflow: strtol saturates.
		v = 1 << 62
	}
	if neg {
		v = -v
	}
	return v, true
}

func isDigit(c byte, base int) bool {
	switch {
	case c >= '0' && c <= '9':
		return int(c-'0') < base
	case base == 16 && c >= 'a' && c <= 'f', base == 16 && c >= 'A' && c <= 'F':
		return true
	}
	return false
}

// InitTrackFile applies init_file: write the value when the file is missing
// (or always with overwrite), so the tracker starts from a known state.
// track files often live in shared directories (/tmp): the file is created
// by safefile, never through a symlink or a file another user planted
// (keepalived CVE-2018-19044); a symlink there is refused, not followed.
func InitTrackFile(c FileConfig) error {
	if !c.InitFile {
		return nil
	}
	b := []byte(strconv.Itoa(c.InitValue) + "\n")
	var err error
	if c.InitOverwrite {
		err = safefile.Write(c.Path, b, 0o644)
	} else if err = safefile.Create(c.Path, b, 0o644); errors.Is(err, safefile.ErrExists) {
		err = nil // there already: the tracker reads it as it is
	}
	if err != nil {
		return fmt.Errorf("track_file %s: init_file %s: %w", c.Name, c.Path, err)
	}
	return nil
}

// FileWatcher follows track files with inotify on their directories, so
// writes, creation, deletion and replacement by rename are all seen.
type FileWatcher struct {
	emit func(Update)
	log  *slog.Logger

	mu     sync.Mutex
	fd     int
	files  map[int][]*watchedFile // watch descriptor → files in that directory
	last   map[string]Update
	closed bool
	done   chan struct{}
	wake   [2]int // pipe to stop the reader
}

type watchedFile struct {
	cfg  FileConfig
	base string
}

// NewFileWatcher applies init_file, reads every file once, emits its
// Update and starts watching. emit is called from the watcher's goroutine.
func NewFileWatcher(files []FileConfig, log *slog.Logger, emit func(Update)) (*FileWatcher, error) {
	if log == nil {
		log = slog.Default()
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("track_file: inotify_init1: %w (raise fs.inotify.max_user_instances)", err)
	}
	w := &FileWatcher{emit: emit, log: log, fd: fd, files: map[int][]*watchedFile{}, last: map[string]Update{}, done: make(chan struct{})}
	if err := unix.Pipe2(w.wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("track_file: pipe: %w", err)
	}
	for _, c := range files {
		if err := InitTrackFile(c); err != nil {
			w.closeFDs()
			return nil, err
		}
		dir := filepath.Dir(c.Path)
		wd, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO|unix.IN_MOVED_FROM|unix.IN_DELETE)
		if err != nil {
			w.closeFDs()
			return nil, fmt.Errorf("track_file %s: watch %s: %w (the directory must exist)", c.Name, dir, err)
		}
		w.files[wd] = append(w.files[wd], &watchedFile{cfg: c, base: filepath.Base(c.Path)})
	}
	for _, fs := range w.files {
		for _, f := range fs {
			w.reread(f)
		}
	}
	go w.loop()
	return w, nil
}

// Current returns the last Update of every file.
func (w *FileWatcher) Current() []Update {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Update, 0, len(w.last))
	for _, u := range w.last {
		out = append(out, u)
	}
	return out
}

func (w *FileWatcher) reread(f *watchedFile) {
	v, note := ReadTrackFile(f.cfg.Path)
	w.mu.Lock()
	defer w.mu.Unlock()
	u := Update{Kind: KindFile, Name: f.cfg.Name, Value: v, Reason: note}
	if prev, ok := w.last[f.cfg.Name]; ok && prev.Value == u.Value && prev.Reason == u.Reason {
		return
	}
	if note != "" {
		w.log.Warn("track_file value", "track_file", f.cfg.Name, "path", f.cfg.Path, "problem", note)
	} else {
		w.log.Info("track_file value", "track_file", f.cfg.Name, "path", f.cfg.Path, "value", v)
	}
	w.last[f.cfg.Name] = u
	if w.emit != nil {
		w.emit(u)
	}
}

func (w *FileWatcher) loop() {
	defer close(w.done)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}, {Fd: int32(w.wake[0]), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			w.log.Error("track_file: poll failed; file changes are no longer followed", "err", err)
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		n, err := unix.Read(w.fd, buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			w.log.Error("track_file: inotify read failed; file changes are no longer followed", "err", err)
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				w.rereadAll()
				continue
			}
			name := string(bytes.TrimRight(nameBytes, "\x00"))
			w.mu.Lock()
			targets := w.files[int(ev.Wd)]
			w.mu.Unlock()
			for _, f := range targets {
				if f.base == name {
					w.reread(f)
				}
			}
		}
	}
}

func (w *FileWatcher) rereadAll() {
	w.mu.Lock()
	var all []*watchedFile
	for _, fs := range w.files {
		all = append(all, fs...)
	}
	w.mu.Unlock()
	for _, f := range all {
		w.reread(f)
	}
}

// Close stops watching.
func (w *FileWatcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	_, _ = unix.Write(w.wake[1], []byte{1})
	<-w.done
	w.closeFDs()
	return nil
}

func (w *FileWatcher) closeFDs() {
	unix.Close(w.fd)
	unix.Close(w.wake[0])
	unix.Close(w.wake[1])
}
