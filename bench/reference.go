package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// refProxy runs the reference: a bare fasthttp pass-through proxy, started
// by run as a child process (`bench refproxy`) so that its CPU and memory
// are read from /proc like the data plane's. It prints its address on
// stdout, which startChild reads.
func refProxy(args []string) {
	fs := flag.NewFlagSet("refproxy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "")
	upstream := fs.String("upstream", "", "")
	fs.Parse(args)
	client := &fasthttp.HostClient{Addr: *upstream, StreamResponseBody: true, MaxConns: 4096, MaxConnWaitTimeout: 5 * time.Second}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		req := fasthttp.AcquireRequest()
		ctx.Request.CopyTo(req)
		req.Header.Del("Connection")
		resp := fasthttp.AcquireResponse()
		if err := client.Do(req, resp); err != nil {
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
			ctx.Error("upstream", 502)
			return
		}
		fasthttp.ReleaseRequest(req)
		ctx.SetStatusCode(resp.StatusCode())
		ctx.Response.Header.SetContentTypeBytes(resp.Header.ContentType())
		ctx.SetBodyStream(&releasing{r: resp.BodyStream(), resp: resp}, -1)
	}}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	log.Fatal(srv.Serve(ln))
}

// releasing streams an upstream response's body to the client and returns
// the response to fasthttp's pool once the server closes the stream.
type releasing struct {
	r    io.Reader
	resp *fasthttp.Response
}

func (r *releasing) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r *releasing) Close() error {
	r.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(r.resp)
	return nil
}
