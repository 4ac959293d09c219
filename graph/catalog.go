package graph

import "github.com/wattfare/wattfare"

// checkMarkupInput refuses a markup outside [0, MaxMarkup] before it is
// narrowed to wattfare.Markup (an int32), so that no huge Int wraps into
// range.
func checkMarkupInput(bps int) error {
	if bps < 0 || bps > int(wattfare.MaxMarkup) {
		return wattfare.InvalidField("markupBps", "must be between 0 and %d basis points (0 %% to 1000 %%)", wattfare.MaxMarkup)
	}
	return nil
}
