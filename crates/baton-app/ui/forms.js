// A form generated from a JSON Schema (a tool's inputSchema, a workflow's inputs): text,
// numbers, booleans, enums, nested objects; arrays and anything else as JSON; and a
// raw-JSON mode for the whole value.
import { h } from "./core.js";

let counter = 0;

// Returns { element, value() } where value() throws with a message on bad input.
export function schemaForm(schema, { idPrefix = "f" } = {}) {
  const root = field(schema || { type: "object" }, "", idPrefix, true, true);
  const raw = h("textarea", { id: idPrefix + "-raw", rows: 8, spellcheck: "false" }, "{}");
  const rawLabel = h("label", { for: idPrefix + "-raw" }, "Arguments as JSON");
  const rawBox = h("div", { hidden: true }, rawLabel, raw);
  const toggle = h("input", { type: "checkbox", id: idPrefix + "-rawmode" });
  toggle.addEventListener("change", () => {
    if (toggle.checked) {
      try { raw.value = JSON.stringify(root.value(), null, 2); } catch { /* keep what is there */ }
    }
    rawBox.hidden = !toggle.checked;
    root.element.hidden = toggle.checked;
  });
  const element = h("div", { class: "schema-form" },
    root.element,
    h("p", {}, toggle, " ", h("label", { for: idPrefix + "-rawmode", class: "inline" }, "Edit as raw JSON")),
    rawBox);
  return {
    element,
    value() {
      if (toggle.checked) {
        try { return JSON.parse(raw.value || "{}"); } catch (e) { throw new Error("the raw JSON does not parse: " + e.message); }
      }
      return root.value();
    },
  };
}

function describe(schema, name, required) {
  const title = schema.title || name;
  return [title, required ? " (required)" : "", schema.description ? h("span", { class: "field-help" }, " — " + schema.description) : null];
}

function field(schema, name, prefix, required, top) {
  const id = `${prefix}-${++counter}`;
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if ((type === "object" || schema.properties) && (schema.properties || top)) {
    const props = schema.properties || {};
    const needed = new Set(schema.required || []);
    const children = Object.entries(props).map(([key, sub]) => [key, field(sub || {}, key, prefix, needed.has(key), false)]);
    const inner = children.map(([, f]) => f.element);
    if (!children.length && top) inner.push(h("p", { class: "muted" }, "No arguments."));
    const element = top ? h("div", {}, inner) : h("fieldset", {}, h("legend", {}, describe(schema, name, required)), inner);
    return {
      element,
      value() {
        const out = {};
        for (const [key, f] of children) {
          const v = f.value();
          if (v !== undefined) out[key] = v;
        }
        return out;
      },
    };
  }
  const label = h("label", { for: id }, describe(schema, name, required));
  if (Array.isArray(schema.enum)) {
    const select = h("select", { id, required: required || undefined },
      required ? null : h("option", { value: "" }, "—"),
      schema.enum.map((choice, i) => h("option", { value: String(i), selected: schema.default === choice || undefined }, String(choice))));
    return {
      element: h("div", {}, label, select),
      value() {
        if (select.value === "") {
          if (required) throw new Error(`${name}: choose a value`);
          return undefined;
        }
        return schema.enum[Number(select.value)];
      },
    };
  }
  if (type === "boolean") {
    const box = h("input", { type: "checkbox", id, checked: schema.default === true || undefined });
    return { element: h("div", {}, h("label", { for: id }, box, " ", describe(schema, name, required))), value: () => box.checked };
  }
  if (type === "number" || type === "integer") {
    const input = h("input", { type: "number", id, step: type === "integer" ? "1" : "any", value: schema.default ?? undefined, required: required || undefined });
    return {
      element: h("div", {}, label, input),
      value() {
        if (input.value === "") {
          if (required) throw new Error(`${name}: a number is required`);
          return undefined;
        }
        const n = Number(input.value);
        if (!Number.isFinite(n) || (type === "integer" && !Number.isInteger(n))) throw new Error(`${name}: not ${type === "integer" ? "an integer" : "a number"}`);
        return n;
      },
    };
  }
  if (type === "string") {
    const input = h("input", { type: "text", id, value: schema.default ?? undefined, required: required || undefined });
    return {
      element: h("div", {}, label, input),
      value() {
        if (input.value === "") {
          if (required) throw new Error(`${name}: a value is required`);
          return undefined;
        }
        return input.value;
      },
    };
  }
  // Arrays, unions and anything else: JSON.
  const area = h("textarea", { id, rows: 3, spellcheck: "false" }, schema.default !== undefined ? JSON.stringify(schema.default) : "");
  return {
    element: h("div", {}, label, area, h("span", { class: "field-help" }, " JSON")),
    value() {
      if (area.value.trim() === "") {
        if (required) throw new Error(`${name}: a value is required`);
        return undefined;
      }
      try { return JSON.parse(area.value); } catch (e) { throw new Error(`${name}: not JSON (${e.message})`); }
    },
  };
}

// A workflow's `inputs` (name → {kind, description, default, required, choices}) as a
// JSON Schema for the form above.
export function inputsSchema(inputs) {
  const properties = {};
  const required = [];
  for (const [name, input] of Object.entries(inputs || {})) {
    const kind = String(input.kind || "string").toLowerCase();
    const type = { string: "string", number: "number", integer: "integer", boolean: "boolean", object: "object", array: "array" }[kind] || "string";
    const schema = { type, description: input.description || undefined };
    if (input.default !== null && input.default !== undefined) schema.default = input.default;
    if (Array.isArray(input.choices)) schema.enum = input.choices;
    if (type === "object") schema.type = "any";
    properties[name] = schema;
    if (input.required) required.push(name);
  }
  return { type: "object", properties, required };
}
