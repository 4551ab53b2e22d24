// Faults on demand: the operator's switches for rehearsing failures (never in production).
import { type FormEvent, useEffect, useState } from "react";
import { api } from "../api";
import type { FaultFlag } from "../api/types";
import { ErrorMessage, Skeleton } from "../components/Feedback";
import { Field } from "../components/Field";
import { PageTitle } from "../components/PageTitle";

/** What the operator types: a percentage for a share, milliseconds, or on/off. */
function shown(flag: FaultFlag): string {
  if (flag.kind === "switch") return flag.active ? "on" : "off";
  if (!flag.active) return "off";
  return flag.kind === "ratio" ? `${Math.round(flag.value * 1000) / 10}%` : `${flag.value} ms`;
}

export function FaultsAdmin() {
  const [flags, setFlags] = useState<FaultFlag[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");

  async function reload(signal?: AbortSignal) {
    try {
      const list = await api.faults.list(signal);
      setFlags(list.items);
      setError(null);
    } catch (failure) {
      if (!signal?.aborted) setError(failure);
    }
  }

  useEffect(() => {
    const controller = new AbortController();
    void reload(controller.signal);
    return () => controller.abort();
  }, []);

  async function change(action: () => Promise<unknown>, message: string) {
    setNotice("");
    try {
      await action();
      setNotice(message);
      await reload();
    } catch (failure) {
      setError(failure);
    }
  }

  const active = (flags ?? []).filter((f) => f.active);
  return (
    <section>
      <PageTitle>Faults</PageTitle>
      <p className="hint">
        Break the shop on purpose and watch it recover. Every service sees a change within a second; faults
        are refused in production.
      </p>
      <div role="status">{notice && <p className="success">{notice}</p>}</div>
      <ErrorMessage error={error} />
      {flags === null ? (
        !error && <Skeleton lines={6} label="Loading faults…" />
      ) : (
        <>
          <div className="table-wrap">
            <table className="admin-table">
              <caption className="visually-hidden">Fault flags</caption>
              <thead>
                <tr>
                  <th scope="col">Fault</th>
                  <th scope="col">Now</th>
                  <th scope="col">Change</th>
                </tr>
              </thead>
              <tbody>
                {flags.map((flag) => (
                  <tr key={flag.name}>
                    <td>
                      <code>{flag.name}</code>
                      <p className="hint">{flag.description}</p>
                    </td>
                    <td>
                      <strong>{shown(flag)}</strong>
                    </td>
                    <td>
                      <FaultControl
                        flag={flag}
                        onSet={(value) =>
                          void change(() => api.faults.set(flag.name, value), `${flag.name} is set.`)
                        }
                        onClear={() => void change(() => api.faults.clear(flag.name), `${flag.name} is off.`)}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {active.length > 0 && (
            <button
              type="button"
              className="button secondary"
              onClick={() => void change(() => api.faults.clearAll(), "Every fault is off.")}
            >
              Turn every fault off
            </button>
          )}
        </>
      )}
    </section>
  );
}

function FaultControl({
  flag,
  onSet,
  onClear,
}: {
  flag: FaultFlag;
  onSet: (value: number | boolean) => void;
  onClear: () => void;
}) {
  const [text, setText] = useState("");
  if (flag.kind === "switch") {
    return flag.active ? (
      <button type="button" className="button secondary" onClick={onClear}>
        Turn off<span className="visually-hidden"> {flag.name}</span>
      </button>
    ) : (
      <button type="button" className="button" onClick={() => onSet(true)}>
        Turn on<span className="visually-hidden"> {flag.name}</span>
      </button>
    );
  }
  const ratio = flag.kind === "ratio";
  function submit(event: FormEvent) {
    event.preventDefault();
    const number = Number(text);
    onSet(ratio ? number / 100 : number);
    setText("");
  }
  return (
    <form className="inline-form" onSubmit={submit} aria-label={`Set ${flag.name}`}>
      <Field label={ratio ? "Share (%)" : "Delay (ms)"}>
        {(props) => (
          <input
            {...props}
            type="number"
            min={0}
            max={ratio ? 100 : flag.maximum}
            step={ratio ? 1 : 50}
            required
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
        )}
      </Field>
      <button type="submit" className="button">
        Set<span className="visually-hidden"> {flag.name}</span>
      </button>
      {flag.active && (
        <button type="button" className="button secondary" onClick={onClear}>
          Turn off<span className="visually-hidden"> {flag.name}</span>
        </button>
      )}
    </form>
  );
}
