package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	golog "github.com/ipfs/go-log/v2"
	"go.uber.org/zap/zapcore"
)

// logFormat is set by the root's --log-format flag: text (default) or json.
var logFormat = "text"

// newLogger builds the daemon's logger: text or JSON lines on w at level,
// and routes the libraries' own logs (go-libp2p, boxo, badger through
// go-log) into the same handler, so an operator sees one stream in one
// format. Library logs below warn are dropped unless level is debug.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if logFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	log := slog.New(h)
	routeLibraryLogs(log, l)
	return log
}

var routeOnce sync.Once

// routeLibraryLogs makes go-log (used by libp2p and boxo) write into log.
func routeLibraryLogs(log *slog.Logger, level slog.Level) {
	routeOnce.Do(func() {
		min := zapcore.WarnLevel
		if level <= slog.LevelDebug {
			min = zapcore.DebugLevel
		}
		lvl := golog.LevelWarn
		if level <= slog.LevelDebug {
			lvl = golog.LevelDebug
		}
		// The default level for loggers created later, then our core in
		// place of go-log's stderr one.
		golog.SetupLogging(golog.Config{Level: lvl, Format: golog.JSONOutput})
		golog.SetPrimaryCore(&slogCore{log: log.With("lib", true), min: min})
		golog.SetAllLoggers(lvl)
	})
}

// slogCore is a zapcore.Core that writes zap entries to a slog.Logger.
type slogCore struct {
	log    *slog.Logger
	min    zapcore.Level
	fields []zapcore.Field
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.min }

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, min: c.min, fields: append(append([]zapcore.Field(nil), c.fields...), fs...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field(nil), c.fields...), fs...) {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	attrs = append(attrs, slog.String("logger", e.LoggerName))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.String(k, fmt.Sprint(v)))
	}
	lvl := slog.LevelInfo
	switch {
	case e.Level >= zapcore.ErrorLevel:
		lvl = slog.LevelError
	case e.Level >= zapcore.WarnLevel:
		lvl = slog.LevelWarn
	case e.Level <= zapcore.DebugLevel:
		lvl = slog.LevelDebug
	}
	c.log.LogAttrs(context.Background(), lvl, e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }
