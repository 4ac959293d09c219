package stripe_test

import "fmt"

func fmtV(v any) string { return fmt.Sprintf("%v %+v %s", v, v, v) }
