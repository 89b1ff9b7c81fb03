import { Component, type ReactNode } from "react";

/** A page that throws while rendering says so, instead of leaving the screen blank. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey: string }, { error: Error | null; key: string }> {
  override state = { error: null as Error | null, key: this.props.resetKey };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  static getDerivedStateFromProps(props: { resetKey: string }, state: { error: Error | null; key: string }) {
    return props.resetKey !== state.key ? { error: null, key: props.resetKey } : null;
  }

  override render() {
    if (this.state.error)
      return (
        <p className="error" role="alert">
          This page failed: {this.state.error.message}
        </p>
      );
    return this.props.children;
  }
}
