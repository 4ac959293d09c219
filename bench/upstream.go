package main

import (
	"bufio"
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
)

const streamEvents = 100

var (
	nonStreamBody = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"sandbox/echo","choices":[{"index":0,"message":{"role":"assistant","content":"hello from the mock upstream"},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":5,"total_tokens":13}}`)
	chunk         = []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"sandbox/echo","choices":[{"index":0,"delta":{"content":" tok"},"finish_reason":null}],"usage":null}` + "\n\n")
	finalChunks   = []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"sandbox/echo","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}` + "\n\n" +
		`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"sandbox/echo","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":100,"total_tokens":108}}` + "\n\n" +
		"data: [DONE]\n\n")
)

// mockUpstream answers chat completions: a fixed JSON body, or a stream of
// streamEvents token events flushed one by one ("slow" in the body: 20 ms
// apart, so that many streams stay open at once).
func mockUpstream(ctx *fasthttp.RequestCtx) {
	body := ctx.PostBody()
	if !bytes.Contains(body, []byte(`"stream":true`)) {
		ctx.SetContentType("application/json")
		ctx.SetBody(nonStreamBody)
		return
	}
	slow := bytes.Contains(body, []byte("bench-slow"))
	n := streamEvents
	if slow {
		n = 150 // 3 s: streams opened over a second all overlap
	}
	ctx.SetContentType("text/event-stream")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		for i := 0; i < n; i++ {
			if slow && i > 0 {
				time.Sleep(20 * time.Millisecond)
			}
			w.Write(chunk)
			if err := w.Flush(); err != nil {
				return
			}
		}
		w.Write(finalChunks)
		w.Flush()
	})
}
