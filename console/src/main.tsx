// Entry point of the web console bundle.
import { render } from 'preact';
import { App } from './app';
import { language } from './i18n';
import './styles.css';

document.documentElement.lang = language === 'zh' ? 'zh-CN' : 'en';
document.title = 'Switchboard';
render(<App />, document.getElementById('app')!);
