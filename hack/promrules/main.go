// Command promrules checks Prometheus rule files as `promtool check rules` does, with the
// Prometheus module's own rule-file parser (model/rulefmt: the YAML, every expression through the
// PromQL parser, every label and annotation template) and without promtool's other commands,
// whose service-discovery dependencies make promtool a long build. Used by
// tests/unit/test_monitoring.py through hack/promrules/build.sh.
//
//	promrules FILE...        prints "FILE: SUCCESS: N rules found" or the errors
//	promrules test FILE...   runs alert unit tests (alerttest.go), as `promtool test rules` does
//
// Exit status 1 on any error or failed test, 2 on a wrong command line.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// quiet is the logger of the Prometheus packages: what they would log is reported as errors instead.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: promrules FILE... | promrules test FILE...")
		os.Exit(2)
	}
	if os.Args[1] == "test" {
		if len(os.Args) < 3 || !runAlertTests(os.Args[2:]) {
			os.Exit(1)
		}
		return
	}
	p := parser.NewParser(parser.Options{})
	passed := true
	for _, file := range os.Args[1:] {
		groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, p, quiet)
		var failures []string
		rules := 0
		for _, err := range errs {
			failures = append(failures, err.Error())
		}
		if groups != nil {
			for _, group := range groups.Groups {
				rules += len(group.Rules)
			}
		}
		passed = report(file, failures, fmt.Sprintf("%d rules found", rules)) && passed
	}
	if !passed {
		os.Exit(1)
	}
}

// report prints "FILE: SUCCESS: <success>", or "FILE: FAILED:" and the failures, one per line; it says
// whether there was none.
func report(file string, failures []string, success string) bool {
	if len(failures) > 0 {
		fmt.Printf("%s: FAILED:\n", file)
		for _, failure := range failures {
			fmt.Printf("  %s\n", failure)
		}
		return false
	}
	fmt.Printf("%s: SUCCESS: %s\n", file, success)
	return true
}
