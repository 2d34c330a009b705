// js-reminder: a hookhost plugin in JavaScript that formats task and calendar reminders.
//
// Built with ComponentizeJS against `wit/` (world `handler`) by `build.mjs`. The exported
// `plugin` object implements the WIT interface `plugin`; `host` and `kv` are the host's
// imports, with the names ComponentizeJS gives WIT interfaces.
//
// Body: {"subject", "text", "remindAt", "changed"}: `remindAt` is ISO 8601 with the configured
// offset; `changed` is false when this record's reminder was already formatted for the same
// time (a scheduler need not re-schedule it). The last `remindAt` per record is kept in the
// key-value store, which the host scopes to the tenant and the service.
//
// Activation parameters (`config`):
// - `locale`: de-DE (default), de-AT, de-CH, en-US, en-GB, fr-FR; other tags fall back to
//   their language, then to de-DE. (StarlingMonkey ships without ICU, so `Intl` and
//   `toLocaleString` are not localised inside a component: the tables below are.)
// - `utc_offset`: `+01:00`, `-05:00`, …: the zone of times written without an offset, and
//   of the text and `remindAt` (default `+00:00`).
// - `lead_minutes`: how long before a due time or start to remind (default 60 for tasks,
//   15 for appointments); a date without a time is reminded at `reminder_time` (default
//   `08:00`) that day.
//
// Failures: a task without a due date is `rejected`; a calendar entry without a start or an
// unreadable date is `invalid-input`; a payload that is not JSON throws (uncaught on purpose:
// the host turns it into a trapped call and keeps the exception's message in the call log).
import { log, config } from 'marketplace:webhook/host@0.1.0';
import { get, set } from 'marketplace:webhook/kv@0.1.0';

const KEYS = {
  subject: ['Betreff', 'betreff', 'subject', 'Subject', 'title'],
  due: ['Frist', 'Faelligkeit', 'Ende_Datum', 'dueDate', 'due', 'DueDate'],
  start: ['von', 'Von', 'Beginn', 'start', 'Start', 'StartDate'],
  location: ['ort', 'Ort', 'location', 'Location'],
  responsible: ['Verantwortung', 'responsible', 'Owner'],
  priority: ['Prio', 'Prioritaet', 'priority', 'Priority'],
  id: ['id', 'Id', 'recordId', 'RecId'],
};

const LOCALES = {
  de: {
    days: ['Sonntag', 'Montag', 'Dienstag', 'Mittwoch', 'Donnerstag', 'Freitag', 'Samstag'],
    months: ['Januar', 'Februar', 'März', 'April', 'Mai', 'Juni', 'Juli', 'August',
      'September', 'Oktober', 'November', 'Dezember'],
    date: (d) => `${d.weekday}, ${d.day}. ${d.month} ${d.year}`,
    dateTime: (d) => `${d.weekday}, ${d.day}. ${d.month} ${d.year}, ${pad(d.hour)}:${pad(d.minute)} Uhr`,
    subject: (s) => `Erinnerung: ${s}`,
    untitled: 'Ohne Betreff',
    task: (s, when) => `Die Aufgabe „${s}“ ist fällig am ${when}.`,
    appointment: (s, when) => `Der Termin „${s}“ beginnt am ${when}.`,
    location: (l) => `Ort: ${l}.`,
    responsible: (r) => `Verantwortlich: ${r}.`,
    priority: (p) => `Priorität: ${p}.`,
  },
  'en-US': {
    days: ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'],
    months: ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
      'September', 'October', 'November', 'December'],
    date: (d) => `${d.weekday}, ${d.month} ${d.day}, ${d.year}`,
    dateTime: (d) => `${d.weekday}, ${d.month} ${d.day}, ${d.year} at ${twelveHour(d)}`,
    subject: (s) => `Reminder: ${s}`,
    untitled: 'No subject',
    task: (s, when) => `The task “${s}” is due on ${when}.`,
    appointment: (s, when) => `The appointment “${s}” starts on ${when}.`,
    location: (l) => `Location: ${l}.`,
    responsible: (r) => `Responsible: ${r}.`,
    priority: (p) => `Priority: ${p}.`,
  },
  fr: {
    days: ['dimanche', 'lundi', 'mardi', 'mercredi', 'jeudi', 'vendredi', 'samedi'],
    months: ['janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet', 'août',
      'septembre', 'octobre', 'novembre', 'décembre'],
    date: (d) => `${d.weekday} ${d.day} ${d.month} ${d.year}`,
    dateTime: (d) => `${d.weekday} ${d.day} ${d.month} ${d.year} à ${pad(d.hour)}:${pad(d.minute)}`,
    subject: (s) => `Rappel : ${s}`,
    untitled: 'Sans objet',
    task: (s, when) => `La tâche « ${s} » est à échéance le ${when}.`,
    appointment: (s, when) => `Le rendez-vous « ${s} » commence le ${when}.`,
    location: (l) => `Lieu : ${l}.`,
    responsible: (r) => `Responsable : ${r}.`,
    priority: (p) => `Priorité : ${p}.`,
  },
};
LOCALES['en-GB'] = {
  ...LOCALES['en-US'],
  date: (d) => `${d.weekday} ${d.day} ${d.month} ${d.year}`,
  dateTime: (d) => `${d.weekday} ${d.day} ${d.month} ${d.year} at ${pad(d.hour)}:${pad(d.minute)}`,
};
LOCALES.en = LOCALES['en-GB'];

function pad(n) {
  return String(n).padStart(2, '0');
}

function twelveHour(d) {
  const h = d.hour % 12 === 0 ? 12 : d.hour % 12;
  return `${h}:${pad(d.minute)} ${d.hour < 12 ? 'AM' : 'PM'}`;
}

/** A WIT `failure` for the host: the thrown value is the `err` case of `handle`'s result. */
function fail(tag, reason) {
  return { tag, val: reason };
}

function first(payload, keys) {
  for (const key of keys) {
    const value = payload[key];
    if (value !== undefined && value !== null && String(value).trim() !== '') {
      return String(value).trim();
    }
  }
  return '';
}

function pickLocale(tag) {
  if (LOCALES[tag]) return [tag, LOCALES[tag]];
  const language = tag.split('-')[0].toLowerCase();
  if (LOCALES[language]) return [tag, LOCALES[language]];
  log('warn', `locale ${tag} is not supported, using de-DE`);
  return ['de-DE', LOCALES.de];
}

/** `+01:00` → 60; throws an invalid-input failure for anything else. */
function parseOffset(text) {
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(text.trim());
  if (!m) throw fail('invalid-input', `utc_offset must look like +01:00, got "${text}"`);
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === '-' ? -minutes : minutes;
}

function parseMinutes(name, text, fallback) {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    throw fail('invalid-input', `${name} must be a whole number of minutes, got "${text}"`);
  }
  return n;
}

/**
 * Reads `2026-12-01`, `2026-12-01 14:30[:00]`, `2026-12-01T14:30:00[Z|+01:00]` and
 * `01.12.2026[ 14:30]`. Returns `{ epochMs, hasTime }`; a time without an offset is a wall
 * time at `offsetMinutes`. `null` when the text is no date.
 */
function parseDate(text, offsetMinutes) {
  let m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(text);
  let y, mo, d, h, mi, s, zone;
  if (m) {
    [, y, mo, d, h, mi, s, zone] = m;
  } else {
    m = /^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(text);
    if (!m) return null;
    [, d, mo, y, h, mi, s] = m;
  }
  const hasTime = h !== undefined;
  const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0));
  const check = new Date(wall);
  if (check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1) return null;
  let zoneMinutes = offsetMinutes;
  if (zone === 'Z') zoneMinutes = 0;
  else if (zone) zoneMinutes = parseOffset(zone);
  return { epochMs: wall - zoneMinutes * 60_000, hasTime };
}

/** The wall-clock parts of `epochMs` at `offsetMinutes`, with names from `words`. */
function parts(epochMs, offsetMinutes, words) {
  const t = new Date(epochMs + offsetMinutes * 60_000);
  return {
    year: t.getUTCFullYear(),
    monthIndex: t.getUTCMonth(),
    month: words.months[t.getUTCMonth()],
    day: t.getUTCDate(),
    weekday: words.days[t.getUTCDay()],
    hour: t.getUTCHours(),
    minute: t.getUTCMinutes(),
    second: t.getUTCSeconds(),
  };
}

function iso(epochMs, offsetMinutes) {
  const p = parts(epochMs, offsetMinutes, LOCALES.de);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${p.year}-${pad(p.monthIndex + 1)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function kindOf(module, payload) {
  if (module === 'task' || module === 'calendar') return module;
  return first(payload, KEYS.start) ? 'calendar' : 'task';
}

export const plugin = {
  handle(inv) {
    // Not JSON: JSON.parse throws and nothing catches it (see the header).
    const payload = JSON.parse(inv.payload);
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw fail('invalid-input', 'the record payload must be a JSON object');
    }

    const [localeTag, words] = pickLocale(config('locale') ?? 'de-DE');
    const offset = parseOffset(config('utc_offset') ?? '+00:00');
    const kind = kindOf(inv.module, payload);
    const subject = first(payload, KEYS.subject) || words.untitled;
    const whenText = first(payload, kind === 'task' ? KEYS.due : KEYS.start);
    if (!whenText) {
      if (kind === 'task') {
        throw fail('rejected', `task "${subject}" has no due date: there is nothing to remind of`);
      }
      throw fail('invalid-input', `calendar entry "${subject}" has no start`);
    }
    const when = parseDate(whenText, offset);
    if (!when) throw fail('invalid-input', `cannot read the date "${whenText}"`);

    let remindAtMs;
    if (when.hasTime) {
      const lead = parseMinutes('lead_minutes', config('lead_minutes'), kind === 'task' ? 60 : 15);
      remindAtMs = when.epochMs - lead * 60_000;
    } else {
      const [h, m] = (config('reminder_time') ?? '08:00').split(':').map(Number);
      if (!(h >= 0 && h < 24 && m >= 0 && m < 60)) {
        throw fail('invalid-input', 'reminder_time must look like 08:00');
      }
      remindAtMs = when.epochMs + (h * 60 + m) * 60_000;
    }

    const p = parts(when.epochMs, offset, words);
    const whenWords = when.hasTime ? words.dateTime(p) : words.date(p);
    const lines = [kind === 'task' ? words.task(subject, whenWords) : words.appointment(subject, whenWords)];
    const location = first(payload, KEYS.location);
    if (location && kind === 'calendar') lines.push(words.location(location));
    const responsible = first(payload, KEYS.responsible);
    if (responsible) lines.push(words.responsible(responsible));
    const priority = first(payload, KEYS.priority);
    if (priority) lines.push(words.priority(priority));

    const remindAt = iso(remindAtMs, offset);
    const record = inv.recordId || first(payload, KEYS.id);
    let changed = true;
    if (record) {
      const key = `last:${kind}:${record}`;
      const previous = get(key);
      changed = previous === undefined || new TextDecoder().decode(previous) !== remindAt;
      if (changed) {
        try {
          set(key, new TextEncoder().encode(remindAt));
        } catch (e) {
          log('warn', `could not remember the reminder of ${record}: ${e.payload ?? e}`);
        }
      }
    }
    log('info', `${kind} ${record || '(no id)'}: remind at ${remindAt} (${localeTag})${changed ? '' : ', unchanged'}`);

    return {
      body: JSON.stringify({ subject: words.subject(subject), text: lines.join(' '), remindAt, changed }),
      updates: [],
    };
  },
};
