import { useEffect, useId, useRef, useState, type ButtonHTMLAttributes, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";

// Hand-written building blocks in the spirit of shadcn/ui: plain elements,
// visible focus, labels tied to inputs, errors announced to screen readers.

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: "primary" | "secondary" | "danger" | "ghost";
  busy?: boolean;
};

export function Button({ variant = "primary", busy, disabled, children, className, ...rest }: ButtonProps) {
  return (
    <button
      className={`btn btn-${variant}${className ? " " + className : ""}`}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
      {...rest}
    >
      {busy && <span className="spinner" aria-hidden="true" />}
      {children}
    </button>
  );
}

export function Card({ title, actions, children, className }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; className?: string }) {
  const titleId = useId();
  return (
    <section className={`card${className ? " " + className : ""}`} aria-labelledby={title ? titleId : undefined}>
      {(title || actions) && (
        <header className="card-header">
          {title && <h2 className="card-title" id={titleId}>{title}</h2>}
          {actions && <div className="card-actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}

type FieldProps = InputHTMLAttributes<HTMLInputElement> & {
  label: string;
  hint?: ReactNode;
  error?: string | null;
  prefix?: string;
};

type ControlProps = { id: string; "aria-invalid"?: true; "aria-describedby"?: string };

/**
 * FieldFrame lays out one form control with its label, hint and error, and
 * hands the control the id and aria attributes that tie them together.
 */
function FieldFrame({ label, hint, error, id, children }: { label: string; hint?: ReactNode; error?: string | null; id?: string; children: (control: ControlProps) => ReactNode }) {
  const auto = useId();
  const fid = id ?? auto;
  const hintId = hint ? `${fid}-hint` : undefined;
  const errId = error ? `${fid}-error` : undefined;
  return (
    <div className="field">
      <label htmlFor={fid}>{label}</label>
      {children({ id: fid, "aria-invalid": error ? true : undefined, "aria-describedby": [hintId, errId].filter(Boolean).join(" ") || undefined })}
      {hint && <p id={hintId} className="field-hint">{hint}</p>}
      {error && <p id={errId} className="field-error">{error}</p>}
    </div>
  );
}

export function Field({ label, hint, error, prefix, id, ...rest }: FieldProps) {
  return (
    <FieldFrame label={label} hint={hint} error={error} id={id}>
      {(control) => (
        <div className={`input-wrap${error ? " invalid" : ""}`}>
          {prefix && <span className="input-prefix" aria-hidden="true">{prefix}</span>}
          <input {...control} {...rest} />
        </div>
      )}
    </FieldFrame>
  );
}

export function Alert({ kind = "error", title, children }: { kind?: "error" | "info" | "success"; title?: string; children: ReactNode }) {
  return (
    <div className={`alert alert-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {title && <strong className="alert-title">{title}</strong>}
      <div>{children}</div>
    </div>
  );
}

export function Badge({ tone = "neutral", children }: { tone?: "neutral" | "green" | "amber" | "red" | "blue"; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

/** AppAvatar is an app's initial in a tile beside its name; screen readers read the name instead. */
export function AppAvatar({ name, small }: { name: string; small?: boolean }) {
  return (
    <div className={`app-avatar${small ? " small" : ""}`} aria-hidden="true">
      {name.slice(0, 1).toUpperCase()}
    </div>
  );
}

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" />
      <span>{label}…</span>
    </div>
  );
}

export function Stat({ label, value, sub }: { label: string; value: ReactNode; sub?: ReactNode }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {sub && <div className="stat-sub">{sub}</div>}
    </div>
  );
}

export function Meter({ used, cap, label }: { used: number; cap: number; label: string }) {
  const pct = cap > 0 ? Math.min(100, Math.round((used / cap) * 100)) : 0;
  return (
    <div className="meter" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
      <div className={`meter-fill${pct >= 90 ? " meter-high" : ""}`} style={{ width: `${pct}%` }} />
    </div>
  );
}

export function Segmented<T extends string>({ label, value, options, onChange }: { label: string; value: T; options: { value: T; label: string }[]; onChange: (v: T) => void }) {
  return (
    <div className="segmented" role="radiogroup" aria-label={label}>
      {options.map((o) => (
        <button key={o.value} type="button" role="radio" aria-checked={value === o.value} className={value === o.value ? "active" : ""} onClick={() => onChange(o.value)}>
          {o.label}
        </button>
      ))}
    </div>
  );
}

export function Select({ label, hint, id, children, ...rest }: SelectHTMLAttributes<HTMLSelectElement> & { label: string; hint?: ReactNode }) {
  return (
    <FieldFrame label={label} hint={hint} id={id}>
      {(control) => (
        <select {...control} className="select" {...rest}>
          {children}
        </select>
      )}
    </FieldFrame>
  );
}

/** CopyBox shows a value in a read-only field with a copy button. */
export function CopyBox({ label, value, secret }: { label: string; value: string; secret?: boolean }) {
  const id = useId();
  const ref = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      ref.current?.select();
      document.execCommand?.("copy");
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 2000);
  }
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className={`copy-box${secret ? " secret" : ""}`}>
        <input id={id} ref={ref} readOnly value={value} spellCheck={false} onFocus={(e) => e.currentTarget.select()} />
        <Button type="button" variant="secondary" onClick={copy}>
          {copied ? "Copied" : "Copy"}
          <span className="sr-only"> {label}</span>
        </Button>
      </div>
      <span className="sr-only" role="status">{copied ? "Copied to the clipboard" : ""}</span>
    </div>
  );
}

/**
 * usePager pages forward through a Relay-style list (first/after) and back
 * through the cursors it has seen.
 */
export function usePager() {
  const [stack, setStack] = useState<string[]>([]);
  return {
    after: stack.length ? stack[stack.length - 1] : null,
    page: stack.length + 1,
    next: (cursor: string | null | undefined) => cursor && setStack((s) => [...s, cursor]),
    prev: () => setStack((s) => s.slice(0, -1)),
  };
}

/** Pager moves pager through a list by its pageInfo; nothing shows before the first page loads or when all fits on one. */
export function Pager({ label, pager, pageInfo }: { label: string; pager: ReturnType<typeof usePager>; pageInfo: { hasNextPage: boolean; endCursor?: string | null } | undefined }) {
  if (!pageInfo || (pager.page === 1 && !pageInfo.hasNextPage)) return null;
  return (
    <nav className="pager" aria-label={label}>
      <Button variant="secondary" onClick={pager.prev} disabled={pager.page === 1}>
        Previous
      </Button>
      <span className="muted small">Page {pager.page}</span>
      <Button variant="secondary" onClick={() => pager.next(pageInfo.endCursor)} disabled={!pageInfo.hasNextPage}>
        Next
      </Button>
    </nav>
  );
}

/** Dialog is a modal <dialog>: focus moves into it and Escape cancels. */
export function Dialog({ open, title, children, onClose }: { open: boolean; title: string; children: ReactNode; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      {open && (
        <>
          <h2 id={titleId}>{title}</h2>
          {children}
        </>
      )}
    </dialog>
  );
}

export function TextArea({ label, hint, error, id, ...rest }: TextareaHTMLAttributes<HTMLTextAreaElement> & { label: string; hint?: ReactNode; error?: string | null }) {
  return (
    <FieldFrame label={label} hint={hint} error={error} id={id}>
      {(control) => <textarea {...control} className={`textarea${error ? " invalid" : ""}`} {...rest} />}
    </FieldFrame>
  );
}
