// The `test` mode of promrules: alert unit tests in the format of `promtool test rules` (the subset
// this repository uses), evaluated with the Prometheus module's own PromQL engine and template
// package (alerting.go: `for` and the annotations as Prometheus does them; memstore.go: the series),
// so that an alert is shown to fire on the series the operator and the executor expose, and to stay
// quiet where it should, not only to parse.
//
// A test file names rule files (plain rule groups, relative to the test file), an evaluation
// interval, and test groups; each group loads input series (promtool's expanding notation, such as
// `0+1x30` or `3x60`) and says which alerts fire at which evaluation times:
//
//	rule_files: [rules.yaml]
//	evaluation_interval: 1m
//	tests:
//	  - name: what this group shows
//	    interval: 1m
//	    input_series:
//	      - series: 'metric{label="value"}'
//	        values: '0+1x30'
//	    alert_rule_test:
//	      - eval_time: 20m
//	        alertname: SomeAlert
//	        exp_alerts:                 # the firing alerts; empty: none fires
//	          - exp_labels: {label: value, severity: warning}
//	            exp_annotations: {...}  # optional: every annotation, expanded
//
// Unknown fields, an alert name no rule file defines and an eval_time that is not a multiple of the
// evaluation interval are errors, so that a typo cannot make a test pass.
package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

type alertTestFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	Tests              []testGroup    `yaml:"tests"`
}

type testGroup struct {
	Name           string          `yaml:"name"`
	Interval       model.Duration  `yaml:"interval"`
	InputSeries    []inputSeries   `yaml:"input_series"`
	AlertRuleTests []alertRuleTest `yaml:"alert_rule_test"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertRuleTest struct {
	EvalTime  model.Duration  `yaml:"eval_time"`
	Alertname string          `yaml:"alertname"`
	ExpAlerts []expectedAlert `yaml:"exp_alerts"`
}

type expectedAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// runAlertTests runs each file's tests; it prints one line per file and every failure, and says
// whether all passed.
func runAlertTests(files []string) bool {
	passed := true
	for _, file := range files {
		checked, failures := alertTestsOf(file)
		passed = report(file, failures, fmt.Sprintf("%d alert checks passed", checked)) && passed
	}
	return passed
}

func alertTestsOf(file string) (int, []string) {
	content, err := os.ReadFile(file)
	if err != nil {
		return 0, []string{err.Error()}
	}
	var tf alertTestFile
	decoder := yaml.NewDecoder(bytes.NewReader(content))
	decoder.KnownFields(true)
	if err := decoder.Decode(&tf); err != nil {
		return 0, []string{fmt.Sprintf("reading the test file: %v", err)}
	}
	interval := time.Duration(tf.EvaluationInterval)
	if interval <= 0 {
		interval = time.Minute
	}
	var ruleFiles []string
	for _, name := range tf.RuleFiles {
		if !filepath.IsAbs(name) {
			name = filepath.Join(filepath.Dir(file), name)
		}
		ruleFiles = append(ruleFiles, name)
	}
	alerts, err := loadAlertingRules(ruleFiles)
	if err != nil {
		return 0, []string{err.Error()}
	}
	checked := 0
	var failures []string
	for i, group := range tf.Tests {
		name := group.Name
		if name == "" {
			name = fmt.Sprintf("test %d", i+1)
		}
		n, groupFailures := runTestGroup(group, alerts, interval)
		checked += n
		for _, failure := range groupFailures {
			failures = append(failures, fmt.Sprintf("%s: %s", name, failure))
		}
	}
	return checked, failures
}

func loadAlertingRules(files []string) (map[string][]rulefmt.Rule, error) {
	p := parser.NewParser(parser.Options{})
	alerts := map[string][]rulefmt.Rule{}
	for _, file := range files {
		groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, p, quiet)
		if len(errs) > 0 {
			return nil, fmt.Errorf("rule file %s: %w", file, errs[0])
		}
		for _, group := range groups.Groups {
			for _, rule := range group.Rules {
				if rule.Alert == "" {
					continue
				}
				if rule.KeepFiringFor != 0 {
					return nil, fmt.Errorf("%s: alert %s: keep_firing_for is not supported here", file, rule.Alert)
				}
				alerts[rule.Alert] = append(alerts[rule.Alert], rule)
			}
		}
	}
	return alerts, nil
}

func runTestGroup(group testGroup, alerts map[string][]rulefmt.Rule, interval time.Duration) (int, []string) {
	scrape := time.Duration(group.Interval)
	if scrape <= 0 {
		scrape = interval
	}
	store, err := loadSeries(group.InputSeries, scrape)
	if err != nil {
		return 0, []string{fmt.Sprintf("input_series: %v", err)}
	}
	byTime, last, failures := checksByTime(group.AlertRuleTests, alerts, interval)
	if len(failures) > 0 {
		return 0, failures
	}

	// Every alert a test asks about is evaluated at every step up to the last eval_time, as its rule
	// group would be, so that `for` counts from the step its expression first held.
	query := instantQueries(store)
	evaluators := map[string][]*alertEvaluator{}
	for _, check := range group.AlertRuleTests {
		if evaluators[check.Alertname] == nil {
			for _, rule := range alerts[check.Alertname] {
				evaluators[check.Alertname] = append(evaluators[check.Alertname], newAlertEvaluator(rule, query))
			}
		}
	}
	checked := 0
	for at := time.Duration(0); at <= last; at += interval {
		ts := time.Unix(0, 0).UTC().Add(at)
		for name, set := range evaluators {
			for _, evaluator := range set {
				if err := evaluator.eval(ts); err != nil {
					failures = append(failures, fmt.Sprintf("%s at %s: %v", name, model.Duration(at), err))
				}
			}
		}
		for _, check := range byTime[at] {
			checked++
			got, want := firing(evaluators[check.Alertname]), expected(check.ExpAlerts)
			if !matches(got, want) {
				failures = append(failures, fmt.Sprintf("alert %s at %s:\n    expected %s\n    got      %s",
					check.Alertname, check.EvalTime, describe(want), describe(got)))
			}
		}
	}
	return checked, failures
}

// checksByTime groups the checks by their eval_time, and says the last one; a check of an unknown alert
// or at a time between evaluations is a failure.
func checksByTime(
	checks []alertRuleTest, alerts map[string][]rulefmt.Rule, interval time.Duration,
) (map[time.Duration][]alertRuleTest, time.Duration, []string) {
	byTime := map[time.Duration][]alertRuleTest{}
	var last time.Duration
	var failures []string
	for _, check := range checks {
		at := time.Duration(check.EvalTime)
		if _, known := alerts[check.Alertname]; !known {
			failures = append(failures, fmt.Sprintf("no rule file defines alert %q", check.Alertname))
		} else if at%interval != 0 {
			failures = append(failures, fmt.Sprintf("eval_time %s is not a multiple of evaluation_interval %s",
				check.EvalTime, model.Duration(interval)))
		} else {
			byTime[at] = append(byTime[at], check)
			last = max(last, at)
		}
	}
	return byTime, last, failures
}

// alert is a firing alert, or an expected one: its labels (without alertname) and its annotations
// (nil in an expected alert that does not name them: they are not compared then).
type alert struct {
	labels      labels.Labels
	annotations map[string]string
}

func (a alert) String() string {
	if a.annotations == nil {
		return a.labels.String()
	}
	return a.labels.String() + " " + labels.FromMap(a.annotations).String()
}

func withoutAlertname(lbls map[string]string) labels.Labels {
	delete(lbls, model.AlertNameLabel)
	return labels.FromMap(lbls)
}

func byLabels(alerts []alert) []alert {
	sort.Slice(alerts, func(i, j int) bool { return labels.Compare(alerts[i].labels, alerts[j].labels) < 0 })
	return alerts
}

func firing(set []*alertEvaluator) []alert {
	var out []alert
	for _, evaluator := range set {
		out = append(out, evaluator.firing...)
	}
	return byLabels(out)
}

func expected(alerts []expectedAlert) []alert {
	var out []alert
	for _, a := range alerts {
		out = append(out, alert{withoutAlertname(maps.Clone(a.ExpLabels)), a.ExpAnnotations})
	}
	return byLabels(out)
}

func matches(got, want []alert) bool {
	return slices.EqualFunc(got, want, func(g, w alert) bool {
		return labels.Equal(g.labels, w.labels) && (w.annotations == nil || maps.Equal(g.annotations, w.annotations))
	})
}

func describe(alerts []alert) string {
	if len(alerts) == 0 {
		return "no alert firing"
	}
	lines := make([]string, len(alerts))
	for i, a := range alerts {
		lines[i] = a.String()
	}
	return strings.Join(lines, "\n             ")
}
