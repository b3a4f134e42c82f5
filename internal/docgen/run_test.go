package docgen

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name  string
		out   string
		rules []Rule
		want  string
	}{
		{
			name: "PIDs renumbered in numeric order, the same PID the same number",
			out:  "started backend pid 7429 from frontend pid 7422\nin pid 7429 (the frontend is pid 7422)\n",
			want: "started backend pid 1001 from frontend pid 1000\nin pid 1001 (the frontend is pid 1000)\n",
		},
		{
			name: "a segment name's PID too",
			out:  "PID 31 made mp-31-my-array\n",
			want: "PID 1000 made mp-1000-my-array\n",
		},
		{
			name: "numbers that are not PIDs stay",
			out:  "sum 30000 of 10000 values\n",
			want: "sum 30000 of 10000 values\n",
		},
		{
			name:  "the chapter's rules after the PIDs",
			out:   "took 12.5ms in pid 9\n",
			rules: []Rule{{RE: regexp.MustCompile(`took [0-9.]+ms`), Repl: "took <t>"}},
			want:  "took <t> in pid 1000\n",
		},
		{
			name: "trailing spaces and a missing final newline",
			out:  "a  \nb",
			want: "a\nb\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Normalize(tt.out, tt.rules))
		})
	}
}
