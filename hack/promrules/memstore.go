// An in-memory series store for the alert tests (alerttest.go): the input series, expanded, served to
// the PromQL engine as a storage.Queryable. The Prometheus module's own test storage is a TSDB, whose
// packages would bring in every remote-storage and cloud SDK the module knows.
package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// memSeries is one input series: its labels and its float samples, in time order.
type memSeries struct {
	labels  labels.Labels
	samples []chunks.Sample
}

type memStore struct{ series []memSeries }

// loadSeries expands each input series (promtool's notation: `0+1x30`, `_` for a missing sample,
// `stale` for a staleness marker, a NaN the engine recognises) into a sample every `interval` from
// time 0.
func loadSeries(inputs []inputSeries, interval time.Duration) (*memStore, error) {
	p := parser.NewParser(parser.Options{})
	store := &memStore{}
	for _, input := range inputs {
		lbls, values, err := p.ParseSeriesDesc(input.Series + " " + input.Values)
		if err != nil {
			return nil, fmt.Errorf("series %s: %w", input.Series, err)
		}
		series := memSeries{labels: lbls}
		for i, value := range values {
			if value.Histogram != nil {
				return nil, fmt.Errorf("series %s: histogram samples are not supported", input.Series)
			}
			if !value.Omitted {
				t := (time.Duration(i) * interval).Milliseconds()
				series.samples = append(series.samples, floatSample{t: t, f: value.Value})
			}
		}
		store.series = append(store.series, series)
	}
	return store, nil
}

func (s *memStore) Querier(mint, maxt int64) (storage.Querier, error) {
	return &memQuerier{store: s, mint: mint, maxt: maxt}, nil
}

type memQuerier struct {
	store      *memStore
	mint, maxt int64
}

func (q *memQuerier) Select(
	_ context.Context, _ bool, _ *storage.SelectHints, matchers ...*labels.Matcher,
) storage.SeriesSet {
	var selected []storage.Series
	for _, series := range q.store.series {
		if matchesAll(series.labels, matchers) {
			var samples []chunks.Sample
			for _, sample := range series.samples {
				if sample.T() >= q.mint && sample.T() <= q.maxt {
					samples = append(samples, sample)
				}
			}
			selected = append(selected, storage.NewListSeries(series.labels, samples))
		}
	}
	sort.Slice(selected, func(i, j int) bool {
		return labels.Compare(selected[i].Labels(), selected[j].Labels()) < 0
	})
	return &listSeriesSet{series: selected, at: -1}
}

func matchesAll(lbls labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(lbls.Get(m.Name)) {
			return false
		}
	}
	return true
}

var errNoLabelQueries = errors.New("the alert tests' store answers series selections only")

func (q *memQuerier) LabelValues(
	context.Context, string, *storage.LabelHints, ...*labels.Matcher,
) ([]string, annotations.Annotations, error) {
	return nil, nil, errNoLabelQueries
}

func (q *memQuerier) LabelNames(
	context.Context, *storage.LabelHints, ...*labels.Matcher,
) ([]string, annotations.Annotations, error) {
	return nil, nil, errNoLabelQueries
}

func (q *memQuerier) Close() error { return nil }

type listSeriesSet struct {
	series []storage.Series
	at     int
}

func (s *listSeriesSet) Next() bool                        { s.at++; return s.at < len(s.series) }
func (s *listSeriesSet) At() storage.Series                { return s.series[s.at] }
func (s *listSeriesSet) Err() error                        { return nil }
func (s *listSeriesSet) Warnings() annotations.Annotations { return nil }

// floatSample is a float sample as the storage interfaces pass it.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                      { return s.t }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }
