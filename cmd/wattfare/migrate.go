package main

import (
	"context"
	"fmt"

	"github.com/wattfare/wattfare/postgres"
)

func init() {
	register("migrate", "apply database migrations to DATABASE_URL", func(ctx context.Context, args []string) error {
		u := databaseURL()
		if err := postgres.EnsureDatabase(ctx, u); err != nil {
			return err
		}
		if err := postgres.Migrate(ctx, u); err != nil {
			return err
		}
		fmt.Println("migrations applied")
		return nil
	})
}
