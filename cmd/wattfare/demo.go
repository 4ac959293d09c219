package main

import (
	"context"
	"net"

	"github.com/wattfare/wattfare/demo"
)

// The demo app "Acme Chat" runs in `wattfare dev` on WATTFARE_DEMO_ADDR, its
// own origin (registered as the app's allowed origin by the seed), with the
// seeded app's keys.
func init() {
	registerDev("demo", 50, func(ctx context.Context, env *devEnv) error {
		cfg := demo.Config{
			ControlURL: env.Info.ControlURL,
			DataURL:    env.Info.DataURL,
			Test:       demo.Keys{Publishable: env.Info.App.PublishableKey, Secret: env.Info.App.SecretKey},
		}
		if env.Info.LiveApp != nil {
			cfg.Live = demo.Keys{Publishable: env.Info.LiveApp.PublishableKey, Secret: env.Info.LiveApp.SecretKey}
		}
		h, err := demo.Handler(cfg)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", env.DemoAddr)
		if err != nil {
			return err
		}
		return serveHTTP(ctx, ln, h)
	})
}
