/**
 * The API token, for this tab only: kept in `sessionStorage` (gone when the tab closes, never
 * shared with other tabs, never in a URL) and asked for with a form when the API answers 401 or
 * the served page says the API needs one. The form takes only what a bearer header can carry
 * (`bearer.ts`), and says so otherwise.
 */
import { BEARER_TOKEN_PROBLEM, isBearerToken } from './bearer.ts';
import { byId } from './dom.ts';

/** The `sessionStorage` key of the token. */
export const TOKEN_KEY = 'perf-sidecar.api-token';

/** The tab's token, if any. */
export function storedToken(): string | undefined {
  let token: string | undefined;
  try {
    token = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    // Storage refused (privacy settings): the token then lives as long as the page.
    token = memoryToken;
  }
  // One stored before the form checked it could not be sent (fetch() would throw): ask again.
  return token !== undefined && isBearerToken(token) ? token : undefined;
}

let memoryToken: string | undefined;

function storeToken(token: string): void {
  memoryToken = token;
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Kept in memory only.
  }
}

/** Forgets the tab's token (it was refused). */
export function forgetToken(): void {
  memoryToken = undefined;
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Nothing stored.
  }
}

/** Whether the served page says the API needs a bearer token (`<meta name="perf-sidecar-auth">`). */
export function pageSaysAuthRequired(): boolean {
  const meta = document.querySelector('meta[name="perf-sidecar-auth"]');
  return meta?.getAttribute('content') === 'bearer';
}

/** Longest token accepted from the form: far above any real token, and bounds what is stored. */
const MAX_TOKEN_LENGTH = 4096;

/** The token form: shown on 401, hidden once a token is entered. */
export class TokenForm {
  readonly #panel = byId('token-panel', HTMLElement);
  readonly #form = byId('token-form', HTMLFormElement);
  readonly #input = byId('token-input', HTMLInputElement);
  readonly #message = byId('token-message', HTMLElement);
  readonly #content = byId('content', HTMLElement);
  readonly #filters = byId('filters', HTMLFormElement);

  /** `onToken` runs after a token was entered and stored. */
  constructor(onToken: () => void) {
    this.#input.maxLength = MAX_TOKEN_LENGTH;
    this.#form.addEventListener('submit', (event) => {
      event.preventDefault();
      const token = this.#input.value.trim();
      if (token === '') {
        this.#message.textContent = 'Enter the API token.';
        return;
      }
      if (!isBearerToken(token)) {
        this.#message.textContent = BEARER_TOKEN_PROBLEM;
        this.#panel.dataset.reason = 'invalid';
        this.#input.focus();
        return;
      }
      storeToken(token);
      this.#input.value = '';
      this.hide();
      onToken();
    });
  }

  /** Whether the form is showing (the page waits for a token). */
  get showing(): boolean {
    return !this.#panel.hidden;
  }

  /**
   * Shows the form and hides the page's figures. `refused`: a token was sent and refused (it is
   * forgotten), else the API simply needs one.
   */
  show(refused: boolean): void {
    if (refused) forgetToken();
    this.#message.textContent = refused ? 'Token refused. Enter the right token.' : '';
    const wasHidden = this.#panel.hidden;
    this.#panel.hidden = false;
    this.#panel.dataset.reason = refused ? 'refused' : 'needed';
    this.#content.hidden = true;
    this.#filters.hidden = true;
    if (wasHidden || refused) this.#input.focus();
  }

  /** Hides the form and shows the page again. */
  hide(): void {
    this.#panel.hidden = true;
    this.#content.hidden = false;
    this.#filters.hidden = false;
  }
}
