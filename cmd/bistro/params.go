package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bistro-go/bistro"
)

func runParams(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "show" {
		fmt.Fprintln(stderr, "usage: bistro params show [--json] [--miners N] FILE")
		return exitUsage
	}
	fs := newFlagSet("params show", "bistro params show [--json] [--miners N] FILE", stderr)
	asJSON := fs.Bool("json", false, "print the canonical Params JSON and its digest as one JSON object")
	miners := fs.Int("miners", bistro.SubnetMiners, "miners the lead's time estimate is for (SPEC.md §2.3)")
	pos, err := parseArgs(fs, args[1:], 1)
	if err != nil {
		return exitUsage
	}
	path := pos[0]
	p, err := bistro.LoadParams(path)
	if err != nil {
		// LoadParams names the file in every error it returns.
		fmt.Fprintf(stderr, "bistro params show: %s\n", oneLine(err))
		return exitFail
	}
	if *asJSON {
		err = showParamsJSON(stdout, path, &p)
	} else {
		err = showParams(stdout, path, &p, *miners)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bistro params show: %s: %s\n", path, oneLine(err))
		return exitFail
	}
	return exitOK
}

// budget is the time budget SPEC.md §2.3 derives from Params, in ms.
type budget struct {
	WindowMS       uint64 `json:"window_ms"`        // B × T
	UploadBudgetMS uint64 `json:"upload_budget_ms"` // G × T, ≥ upload_time_ms
	UploadTimeMS   uint64 `json:"upload_time_ms"`
	MergeBudgetMS  uint64 `json:"merge_budget_ms"` // (B − G − lag) × T, ≥ merge_time_ms
	MergeTimeMS    uint64 `json:"merge_time_ms"`
	RankBudgetMS   uint64 `json:"rank_budget_ms"` // failover_delay × T, ≥ merge_time_ms
}

// budgetOf derives the budget of valid Params (Validate keeps every product
// within a u64 and B − G − lag positive).
func budgetOf(p *bistro.Params) budget {
	t := p.BlockTimeMS
	return budget{
		WindowMS:       p.BlocksPerWindow * t,
		UploadBudgetMS: p.Grace * t,
		UploadTimeMS:   p.UploadTimeMS,
		MergeBudgetMS:  (p.BlocksPerWindow - p.Grace - p.FinalityLag) * t,
		MergeTimeMS:    p.MergeTimeMS,
		RankBudgetMS:   p.FailoverDelay * t,
	}
}

func ms(v uint64) time.Duration { return time.Duration(v) * time.Millisecond }

func showParamsJSON(w io.Writer, path string, p *bistro.Params) error {
	out := struct {
		File   string         `json:"file"`
		Digest bistro.Hash    `json:"digest"`
		Params *bistro.Params `json:"params"`
		Budget budget         `json:"budget"`
	}{path, p.Digest(), p, budgetOf(p)}
	return writeJSON(w, out)
}

// units annotates the fields whose unit the JSON name does not say.
var units = map[string]string{
	"blocks_per_window":   "blocks",
	"grace":               "blocks",
	"finality_lag":        "blocks",
	"failover_delay":      "blocks",
	"page_length":         "tokens",
	"checkpoint_interval": "windows",
	"retention":           "windows",
	"lr.warmup":           "windows",
	"lr.total":            "windows",
}

func showParams(w io.Writer, path string, p *bistro.Params, miners int) error {
	// Every field comes from the canonical JSON, in declaration order, so a
	// field added to Params is shown without a change here.
	canon, err := json.Marshal(p)
	if err != nil {
		return err
	}
	fields, err := flatten(canon)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "file\t%s (valid)\n", path)
	fmt.Fprintf(tw, "digest\t%s\n", p.Digest())
	for _, f := range fields {
		v := f[1]
		switch {
		case units[f[0]] != "":
			v += " " + units[f[0]]
		case strings.HasSuffix(f[0], "_ms"):
			var n uint64
			if _, err := fmt.Sscan(v, &n); err == nil {
				v += fmt.Sprintf(" (%s)", ms(n))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\n", f[0], v)
	}
	b := budgetOf(p)
	fmt.Fprintf(tw, "time budget\t(SPEC.md §2.3)\n")
	fmt.Fprintf(tw, "  window\t%d blocks × %s = %s\n", p.BlocksPerWindow, p.BlockTime(), ms(b.WindowMS))
	fmt.Fprintf(tw, "  upload\tgrace %d × %s = %s ≥ upload_time %s (slack %s)\n",
		p.Grace, p.BlockTime(), ms(b.UploadBudgetMS), ms(b.UploadTimeMS), ms(b.UploadBudgetMS-b.UploadTimeMS))
	fmt.Fprintf(tw, "  merge\t(%d − %d − %d) × %s = %s ≥ merge_time %s (slack %s)\n",
		p.BlocksPerWindow, p.Grace, p.FinalityLag, p.BlockTime(), ms(b.MergeBudgetMS), ms(b.MergeTimeMS),
		ms(b.MergeBudgetMS-b.MergeTimeMS))
	fmt.Fprintf(tw, "  failover\t%d × %s = %s per rank ≥ merge_time %s (slack %s)\n",
		p.FailoverDelay, p.BlockTime(), ms(b.RankBudgetMS), ms(b.MergeTimeMS), ms(b.RankBudgetMS-b.MergeTimeMS))
	th := bistro.MeasuredThroughput
	fmt.Fprintf(tw, "  lead	%d miners × %.2f MB slices ≈ %s at the measured fetch %.0f, check %.0f, merge %.0f MB/s\n",
		miners, p.SliceBytes()/1e6, p.LeadTime(miners, th).Round(time.Millisecond), th.Fetch/1e6, th.Check/1e6, th.Merge/1e6)
	if err := p.LeadFits(miners, th); err != nil {
		fmt.Fprintf(tw, "WARNING\t%s\n", oneLine(err))
	}
	return tw.Flush()
}

// flatten lists the scalar values of a JSON document as dotted paths and
// their text, in document order ("lr.kind", "constant").
func flatten(doc []byte) ([][2]string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out [][2]string
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		join := func(k string) string {
			if path == "" {
				return k
			}
			return path + "." + k
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				if err := walk(join(fmt.Sprint(k))); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(join(fmt.Sprint(i))); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		out = append(out, [2]string{path, fmt.Sprint(tok)})
		return nil
	}
	return out, walk("")
}
