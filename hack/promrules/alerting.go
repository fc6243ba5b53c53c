// How the alert tests (alerttest.go) evaluate an alerting rule, as Prometheus does: at each step the
// expression is queried; a series of the result is an alert (its labels without the metric name, the
// rule's labels, alertname), pending from the first step it appears and firing once it has been there
// for the rule's `for`; it is gone at the first step it is not in the result. Annotations are expanded
// with Prometheus' template package ($labels, $value, humanize...) at each step.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/template"
)

type alertEvaluator struct {
	rule     rulefmt.Rule
	query    template.QueryFunc
	activeAt map[string]time.Time // an alert's labels (as text) -> the step it first appeared
	firing   []alert              // after the last step
}

// instantQueries answers instant queries over `store` (a scalar as a one-sample vector), as a rule
// group's query function does; one per test group, shared by its alerts and their templates.
func instantQueries(store *memStore) template.QueryFunc {
	engine := promql.NewEngine(promql.EngineOpts{
		Logger: quiet, MaxSamples: 10_000_000, Timeout: time.Minute,
		EnableAtModifier: true, EnableNegativeOffset: true,
	})
	return func(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
		q, err := engine.NewInstantQuery(ctx, store, nil, expr, ts)
		if err != nil {
			return nil, err
		}
		defer q.Close()
		result := q.Exec(ctx)
		if result.Err != nil {
			return nil, result.Err
		}
		if scalar, err := result.Scalar(); err == nil {
			return promql.Vector{{T: scalar.T, F: scalar.V}}, nil
		}
		return result.Vector()
	}
}

func newAlertEvaluator(rule rulefmt.Rule, query template.QueryFunc) *alertEvaluator {
	return &alertEvaluator{rule: rule, query: query, activeAt: map[string]time.Time{}}
}

func (e *alertEvaluator) eval(ts time.Time) error {
	ctx := context.Background()
	samples, err := e.query(ctx, e.rule.Expr, ts)
	if err != nil {
		return err
	}
	hold := time.Duration(e.rule.For)
	seen := map[string]bool{}
	e.firing = nil
	for _, sample := range samples {
		builder := labels.NewBuilder(sample.Metric).Del(labels.MetricName)
		for name, value := range e.rule.Labels {
			builder.Set(name, value)
		}
		builder.Set(model.AlertNameLabel, e.rule.Alert)
		lbls := builder.Labels()
		key := lbls.String()
		if seen[key] {
			return fmt.Errorf("the expression gives two series with the labels %s", key)
		}
		seen[key] = true
		if _, active := e.activeAt[key]; !active {
			e.activeAt[key] = ts
		}
		if ts.Sub(e.activeAt[key]) < hold {
			continue
		}
		annotations, err := e.expand(ctx, sample, ts)
		if err != nil {
			return err
		}
		e.firing = append(e.firing, alert{withoutAlertname(lbls.Map()), annotations})
	}
	for key := range e.activeAt {
		if !seen[key] {
			delete(e.activeAt, key)
		}
	}
	return nil
}

// expand fills in the rule's annotations for one sample of its result.
func (e *alertEvaluator) expand(ctx context.Context, sample promql.Sample, ts time.Time) (map[string]string, error) {
	data := template.AlertTemplateData(sample.Metric.Map(), nil, "", sample)
	header := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}" +
		"{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	expanded := map[string]string{}
	for name, text := range e.rule.Annotations {
		expander := template.NewTemplateExpander(
			ctx, header+text, "__alert_"+e.rule.Alert, data, model.TimeFromUnixNano(ts.UnixNano()),
			e.query, nil, nil,
		)
		value, err := expander.Expand()
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %w", name, err)
		}
		expanded[name] = value
	}
	return expanded, nil
}
