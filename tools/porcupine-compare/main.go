// porcupine-compare checks the histories `cargo bench --bench lin_hard` writes with
// Porcupine, and prints, per file, the verdict Porcupine gives, the one expected (by
// construction) and the time the check took. Run it through tools/porcupine-compare.sh,
// which builds it against a checkout of Porcupine.
//
// Register histories (*.log) are Jepsen etcd logs: one line per event, the process, the
// event type, the function and the value, tab-separated after "jepsen.util -". An
// invocation with no completion has an unknown outcome: its return is put at the end of
// the history, where a write may as well never have happened. Key-value histories (*.edn)
// hold one EDN map per line; an :info completion leaves the operation unknown in the same
// way. Both models are ours, written for this tool: a register of integers (nil as a
// separate flag) with read, write and compare-and-set, and a map of strings partitioned by
// key with get and put.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

type regInput struct {
	kind     byte // 'r' read, 'w' write, 'c' compare-and-set
	from, to int  // write: to; cas: from -> to
}

type regOutput struct {
	known   bool // false: the outcome is unknown
	isNil   bool // a read of nil
	value   int  // the value read
	swapped bool // a cas that matched
}

// regState is the register: nil, or a value.
type regState struct {
	isNil bool
	value int
}

var registerModel = porcupine.Model{
	Init: func() interface{} { return regState{isNil: true} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st := state.(regState)
		in := input.(regInput)
		out := output.(regOutput)
		switch in.kind {
		case 'r':
			if !out.known {
				return true, st
			}
			return out.isNil == st.isNil && (st.isNil || out.value == st.value), st
		case 'w':
			return true, regState{value: in.to}
		default:
			match := !st.isNil && st.value == in.from
			next := st
			if match {
				next = regState{value: in.to}
			}
			return !out.known || out.swapped == match, next
		}
	},
}

type kvInput struct {
	get   bool
	key   string
	value string
}

type kvOutput struct {
	known bool
	value string
}

var kvModel = porcupine.Model{
	PartitionEvent: func(history []porcupine.Event) [][]porcupine.Event {
		byKey := map[string][]porcupine.Event{}
		keyOf := map[int]string{}
		var keys []string
		for _, e := range history {
			if e.Kind == porcupine.CallEvent {
				keyOf[e.Id] = e.Value.(kvInput).key
			}
			k := keyOf[e.Id]
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], e)
		}
		var parts [][]porcupine.Event
		for _, k := range keys {
			parts = append(parts, byKey[k])
		}
		return parts
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st := state.(string)
		in := input.(kvInput)
		out := output.(kvOutput)
		if in.get {
			return !out.known || out.value == st, st
		}
		return true, in.value
	},
}

var etcdLine = regexp.MustCompile(`^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail)\s+:(read|write|cas)\s+(.*)$`)
var casValue = regexp.MustCompile(`^\[(\d+)\s+(\d+)\]$`)

// events pairs invocations and completions by process; open ones return at the end.
type pairing struct {
	events []porcupine.Event
	open   map[int]int
	next   int
}

func (p *pairing) call(proc int, v interface{}) {
	p.events = append(p.events, porcupine.Event{ClientId: proc, Kind: porcupine.CallEvent, Value: v, Id: p.next})
	p.open[proc] = p.next
	p.next++
}

func (p *pairing) ret(proc int, v interface{}) error {
	id, ok := p.open[proc]
	if !ok {
		return fmt.Errorf("a completion of process %d with nothing open", proc)
	}
	delete(p.open, proc)
	p.events = append(p.events, porcupine.Event{ClientId: proc, Kind: porcupine.ReturnEvent, Value: v, Id: id})
	return nil
}

func (p *pairing) finish(unknown interface{}) []porcupine.Event {
	// In order of invocation, so the output does not depend on map order.
	ids := make([]int, 0, len(p.open))
	procOf := map[int]int{}
	for proc, id := range p.open {
		ids = append(ids, id)
		procOf[id] = proc
	}
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j-1] > ids[j]; j-- {
			ids[j-1], ids[j] = ids[j], ids[j-1]
		}
	}
	for _, id := range ids {
		p.events = append(p.events, porcupine.Event{ClientId: procOf[id], Kind: porcupine.ReturnEvent, Value: unknown, Id: id})
	}
	return p.events
}

func readEtcd(path string) ([]porcupine.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := &pairing{open: map[int]int{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		m := etcdLine.FindStringSubmatch(sc.Text())
		if m == nil {
			return nil, fmt.Errorf("%s:%d: not an etcd log line", path, line)
		}
		proc, _ := strconv.Atoi(m[1])
		value := strings.TrimSpace(m[4])
		switch m[2] {
		case "invoke":
			in := regInput{kind: m[3][0]}
			switch m[3] {
			case "write":
				in.to, err = strconv.Atoi(value)
			case "cas":
				c := casValue.FindStringSubmatch(value)
				if c == nil {
					return nil, fmt.Errorf("%s:%d: a cas takes [from to]", path, line)
				}
				in.from, _ = strconv.Atoi(c[1])
				in.to, _ = strconv.Atoi(c[2])
			}
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, line, err)
			}
			p.call(proc, in)
		default:
			out := regOutput{known: true}
			switch m[3] {
			case "read":
				if value == "nil" {
					out.isNil = true
				} else if out.value, err = strconv.Atoi(value); err != nil {
					return nil, fmt.Errorf("%s:%d: %v", path, line, err)
				}
			case "cas":
				out.swapped = m[2] == "ok"
			}
			if err := p.ret(proc, out); err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, line, err)
			}
		}
	}
	return p.finish(regOutput{}), sc.Err()
}

var ednLine = regexp.MustCompile(`^\{:process (\d+), :type :(invoke|ok|info), :f :(get|put), :key "([^"]*)", :value (nil|"[^"]*")\}$`)

func readKv(path string) ([]porcupine.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := &pairing{open: map[int]int{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		m := ednLine.FindStringSubmatch(sc.Text())
		if m == nil {
			return nil, fmt.Errorf("%s:%d: not a kv EDN line", path, line)
		}
		proc, _ := strconv.Atoi(m[1])
		value := strings.Trim(m[5], `"`)
		switch m[2] {
		case "invoke":
			p.call(proc, kvInput{get: m[3] == "get", key: m[4], value: value})
		case "ok":
			if err := p.ret(proc, kvOutput{known: true, value: value}); err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, line, err)
			}
		case "info":
			// Unknown: stays open, returns at the end.
		}
	}
	return p.finish(kvOutput{}), sc.Err()
}

func main() {
	dir := flag.String("dir", "target/lin-hard", "folder with the histories and EXPECTED.txt")
	timeout := flag.Duration("timeout", 60*time.Second, "Porcupine's timeout per history")
	flag.Parse()
	expected, err := os.ReadFile(filepath.Join(*dir, "EXPECTED.txt"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}
	fmt.Printf("porcupine, timeout %v per history, GOMAXPROCS %d\n", *timeout, runtime.GOMAXPROCS(0))
	fmt.Printf("%-28s %-17s %-8s %10s %9s\n", "history", "expected", "result", "time ms", "sys MiB")
	for _, l := range strings.Split(strings.TrimSpace(string(expected)), "\n") {
		fields := strings.Fields(l)
		if len(fields) != 2 {
			continue
		}
		name, want := fields[0], fields[1]
		var events []porcupine.Event
		model := registerModel
		if strings.HasSuffix(name, ".edn") {
			model = kvModel
			events, err = readKv(filepath.Join(*dir, name))
		} else {
			events, err = readEtcd(filepath.Join(*dir, name))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(2)
		}
		runtime.GC()
		start := time.Now()
		res := porcupine.CheckEventsTimeout(model, events, *timeout)
		took := time.Since(start)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		verdict := map[porcupine.CheckResult]string{porcupine.Ok: "linearizable", porcupine.Illegal: "not-linearizable", porcupine.Unknown: "timeout"}[res]
		mark := ""
		if res != porcupine.Unknown && verdict != want {
			mark = "  WRONG"
		}
		fmt.Printf("%-28s %-17s %-8s %10.1f %9.0f%s\n", strings.TrimSuffix(strings.TrimSuffix(name, ".log"), ".edn"), want, verdict, took.Seconds()*1e3, float64(ms.Sys)/(1<<20), mark)
	}
}
