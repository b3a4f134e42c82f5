package mplog

import (
	"bytes"
	"log/slog"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLogFormat(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(NewHandler(&out, "MyProcess.my-process", Back, nil))
	log.Info("got parameter gotcha!")
	log.Warn("handler failed", "command", "boom", "n", 3)
	log.With("pid", 42).WithGroup("req").Info("quoted", "text", "two words", "empty", "", "eq", "a=b")
	log.Info("group", slog.Group("g", "a", 1, slog.Group("h", "b", true)))
	log.Debug("not at the default level")
	assert.Equal(t, `MyProcess.my-process [back] - INFO - got parameter gotcha!
MyProcess.my-process [back] - WARN - handler failed command=boom n=3
MyProcess.my-process [back] - INFO - quoted pid=42 req.text="two words" req.empty="" req.eq="a=b"
MyProcess.my-process [back] - INFO - group g.a=1 g.h.b=true
`, out.String())
}

func TestLogLevelFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want []string
	}{
		{"", []string{"INFO", "WARN", "ERROR"}},
		{"debug", []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{"WARN", []string{"WARN", "ERROR"}},
		{"error", []string{"ERROR"}},
		{"nonsense", []string{"INFO", "WARN", "ERROR"}},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv("MP_LOG_LEVEL", tc.env)
			var out bytes.Buffer
			log := slog.New(NewHandler(&out, "w", Front, nil))
			log.Debug("m")
			log.Info("m")
			log.Warn("m")
			log.Error("m")
			var got []string
			for _, m := range regexp.MustCompile(`- (\w+) - m`).FindAllStringSubmatch(out.String(), -1) {
				got = append(got, m[1])
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestLogTimeOnRequest(t *testing.T) {
	t.Setenv("MP_LOG_TIME", "1")
	var out bytes.Buffer
	slog.New(NewHandler(&out, "w", Front, nil)).Info("hello")
	assert.Regexp(t, `^\d\d:\d\d:\d\d\.\d\d\d w \[front\] - INFO - hello\n$`, out.String())
}
